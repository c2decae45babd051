// space.mjs BASE_URL SPACE_ID: a listener in Debian's Chromium opens
// BASE_URL/space.html?id=SPACE_ID (web/space.html), presses Join, and the
// page follows the gate (puzzle solved in the page with pow.js, waiting room,
// ticket) until its <audio> plays the ticketed stream. Prints one line
// "RESULT {json}"; exits 0 when the audio clock ran past 2 s, 1 otherwise.
// Every wait is bounded; a watchdog ends the process if anything hangs.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, id] = process.argv.slice(2);
if (!base || !id || new URL(base).hostname !== '127.0.0.1') {
  process.stderr.write('usage: node space.mjs http://127.0.0.1:PORT SPACE_ID\n');
  process.exit(2);
}
const result = { ok: false, join: null, currentTime: 0, error: null, src: null,
                 console_errors: [], status_text: null };
const profile = mkdtempSync(join(tmpdir(), 'podium-chromium-'));
const watchdog = setTimeout(() => {
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
  process.exit(1);
}, 90000);
let context = null;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PODIUM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreDefaultArgs: ['--headless'],
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run',
           '--disable-background-networking', '--autoplay-policy=no-user-gesture-required',
           '--mute-audio', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
    timeout: 15000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') result.console_errors.push(`${m.text()} [${m.location().url}]`);
  });
  page.on('pageerror', (e) => result.console_errors.push(String(e)));
  await page.goto(`${base}/space.html?id=${id}`, { waitUntil: 'load', timeout: 10000 });
  await page.click('#join', { timeout: 5000 });
  await page.waitForFunction(() => {
    const a = document.getElementById('player');
    return a.error !== null || a.currentTime > 2;
  }, null, { timeout: 60000, polling: 200 }).catch(() => {});
  Object.assign(result, await page.evaluate(() => {
    const a = document.getElementById('player');
    return { join: window.__join, currentTime: a.currentTime, src: a.currentSrc,
             error: a.error ? a.error.message || String(a.error.code) : null,
             status_text: document.getElementById('status').textContent };
  }));
  result.ok = result.error === null && result.currentTime > 2;
} catch (e) {
  result.console_errors.push('exception: ' + String(e).split('\n')[0]);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
