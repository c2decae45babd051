// play.mjs BASE_URL [--other /live/NAME.opus] [--screenshot PATH] [--timeout-ms N]
//
// Drives Debian's Chromium (/usr/bin/chromium, headless) through playwright-core:
//  1. opens BASE_URL/ (web/index.html served by Podium) and checks the page,
//  2. starts the page's own <audio id="player"> (a click on its play button,
//     play() as a fallback), waits until currentTime > 3 s, checks error,
//     readyState and, through Web Audio (MediaElementSource -> AnalyserNode),
//     that the decoded samples are not silence; takes a screenshot,
//  3. plays BASE_URL + --other in a fresh <audio> made by page.evaluate and
//     checks that its clock advances and its audio is not silent.
// Prints one line "RESULT {json}" and exits 0 when every check passed, 1 when
// one failed, 2 on bad usage. Every wait is bounded; the browser is always
// closed; a watchdog ends the process if anything hangs anyway.
// Audio stays muted (--mute-audio): the analyser sees the decoded samples
// before the output device, so nothing comes out of a developer's speakers.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHROMIUM = process.env.PODIUM_CHROMIUM || '/usr/bin/chromium';
const ADVANCE = 2;     // seconds the clock must run after 'playing'
const RMS_MIN = 0.01; // the demo tone peaks near 0.2, ffmpeg's sine at 0.125

function usage(msg) {
  process.stderr.write(`play.mjs: ${msg}\nusage: node play.mjs BASE_URL [--other PATH] ` +
    '[--screenshot FILE] [--timeout-ms N]\n');
  process.exit(2);
}

const argv = process.argv.slice(2);
const opt = { other: null, screenshot: null, timeoutMs: 20000 };
let base = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--other') opt.other = argv[++i];
  else if (a === '--screenshot') opt.screenshot = argv[++i];
  else if (a === '--timeout-ms') opt.timeoutMs = Number(argv[++i]);
  else if (!a.startsWith('-') && base === null) base = a.replace(/\/+$/, '');
  else usage(`unexpected argument ${a}`);
}
if (!base) usage('missing BASE_URL');
const origin = new URL(base).origin;
if (new URL(base).hostname !== '127.0.0.1') usage('BASE_URL must be on 127.0.0.1');

const result = { ok: false, checks: [], failures: [], page: {}, demo: {}, other: null,
                 requests_offhost: [], http_errors: [], console_errors: [], chromium: null };
const t0 = Date.now();
const since = () => Date.now() - t0;

function check(name, cond, detail) {
  result.checks.push(name);
  if (!cond) result.failures.push(detail === undefined ? name : `${name}: ${JSON.stringify(detail)}`);
  return cond;
}

let emitted = false;
function emit(code) {
  if (emitted) return;
  emitted = true;
  result.ok = code === 0 && result.failures.length === 0;
  result.elapsed_ms = since();
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
}

// In-page helpers, installed once: a single AudioContext, one analyser per
// element, and a sampler returning the loudest RMS / peak over a few frames.
function installHelpers() {
  window.__podium = {
    ctx: null,
    attach(el) {
      if (!this.ctx) this.ctx = new AudioContext();
      const src = this.ctx.createMediaElementSource(el);
      const an = this.ctx.createAnalyser();
      an.fftSize = 2048;
      src.connect(an);
      an.connect(this.ctx.destination);
      el.__an = an;
      el.__ev = [];
      el.__t0 = performance.now();
      for (const e of ['loadstart', 'loadedmetadata', 'canplay', 'playing', 'waiting',
                       'stalled', 'error', 'ended', 'pause']) {
        el.addEventListener(e, () => {
          el.__ev.push([e, Math.round(performance.now() - el.__t0), el.currentTime]);
          if (e === 'playing' && el.__ctPlaying === undefined) el.__ctPlaying = el.currentTime;
        });
      }
      return this.ctx.resume();
    },
    async level(el, frames, gapMs) {
      const an = el.__an;
      const buf = new Float32Array(an.fftSize);
      let rmsMax = 0, peak = 0, loud = 0;
      for (let f = 0; f < frames; f++) {
        an.getFloatTimeDomainData(buf);
        let s = 0;
        for (const v of buf) { s += v * v; peak = Math.max(peak, Math.abs(v)); }
        const rms = Math.sqrt(s / buf.length);
        rmsMax = Math.max(rmsMax, rms);
        if (rms > 0.01) loud++;
        await new Promise((r) => setTimeout(r, gapMs));
      }
      return { rms_max: rmsMax, peak, loud_frames: loud, frames, ctx_state: this.ctx.state };
    },
    state(el) {
      return { currentTime: el.currentTime, readyState: el.readyState, paused: el.paused,
               networkState: el.networkState,
               error: el.error && { code: el.error.code, message: el.error.message },
               buffered_end: el.buffered.length ? el.buffered.end(el.buffered.length - 1) : 0,
               ct_at_playing: el.__ctPlaying === undefined ? null : el.__ctPlaying,
               events: el.__ev, src: el.currentSrc };
    },
  };
}

// Waits until the element's clock passes <secs> and has advanced by <adv>
// seconds since it started playing, or until it fails; bounded. (Chromium's
// currentTime for a live Ogg stream starts at the first page's granule time,
// not at 0, so "currentTime > 3" alone would not prove playback.)
async function waitClock(page, handle, secs, adv, timeoutMs) {
  try {
    await page.waitForFunction(([el, s, d]) => el.error !== null ||
                               (el.__ctPlaying !== undefined &&
                                el.currentTime > Math.max(s, el.__ctPlaying + d)),
                               [handle, secs, adv], { timeout: timeoutMs, polling: 100 });
    return true;
  } catch (e) {
    return false;
  }
}

async function playPage(page) {
  const resp = await page.goto(base + '/', { waitUntil: 'load', timeout: 10000 });
  result.page.status = resp && resp.status();
  result.page.content_type = resp && resp.headers()['content-type'];
  result.page.title = await page.title();
  check('page status 200', result.page.status === 200, result.page.status);
  check('page title', result.page.title === 'Podium', result.page.title);
  const player = await page.$('audio#player');
  if (!check('page has audio#player', player !== null)) return;
  result.page.player_src = await player.evaluate((el) => el.currentSrc || el.src);
  check('player src is the demo mount', result.page.player_src === base + '/live/demo.opus?burst_ms=8000',
        result.page.player_src);

  await page.evaluate(installHelpers);
  await player.evaluate((el) => window.__podium.attach(el));

  // A user's click on the play button (left end of the native controls).
  const box = await player.boundingBox();
  const tPlay = since();
  if (box) await page.mouse.click(box.x + Math.min(20, box.width / 2), box.y + box.height / 2);
  let started = 'click';
  try {
    await page.waitForFunction((el) => !el.paused, player, { timeout: 1500, polling: 50 });
  } catch (e) {
    started = 'play()';
    result.demo.play_promise = await player.evaluate(
      (el) => el.play().then(() => 'resolved', (e) => `rejected: ${e.name}: ${e.message}`));
  }
  result.demo.started_by = started;

  const reached = await waitClock(page, player, 3, ADVANCE, opt.timeoutMs);
  result.demo.wait_ms = since() - tPlay;
  result.demo.level = await player.evaluate((el) => window.__podium.level(el, 12, 50));
  Object.assign(result.demo, await player.evaluate((el) => window.__podium.state(el)));
  const d = result.demo;
  check('demo currentTime > 3 within timeout', reached && d.currentTime > 3,
        { currentTime: d.currentTime, wait_ms: d.wait_ms });
  check('demo clock advanced', d.ct_at_playing !== null && d.currentTime >= d.ct_at_playing + ADVANCE,
        { ct_at_playing: d.ct_at_playing, currentTime: d.currentTime });
  check('demo audio.error === null', d.error === null, d.error);
  check('demo readyState >= 3', d.readyState >= 3, d.readyState);
  check('demo not paused', d.paused === false);
  check('demo decoded audio not silent', d.level.rms_max > RMS_MIN && d.level.loud_frames >= 3,
        d.level);
  if (opt.screenshot) {
    await page.screenshot({ path: opt.screenshot, fullPage: true, timeout: 10000 });
    result.page.screenshot = opt.screenshot;
  }
}

async function playOther(page) {
  const url = base + opt.other;
  result.other = { url };
  const el = await page.evaluateHandle((u) => {
    const a = document.createElement('audio');
    a.id = 'other';
    a.controls = true;
    document.body.appendChild(a);
    window.__podium.attach(a);
    a.src = u;
    a.__play = a.play().then(() => 'resolved', (e) => `rejected: ${e.name}: ${e.message}`);
    return a;
  }, url);
  const tPlay = since();
  const reached = await waitClock(page, el, 2, ADVANCE, opt.timeoutMs);
  result.other.wait_ms = since() - tPlay;
  result.other.play_promise = await el.evaluate((a) => Promise.race(
    [a.__play, new Promise((r) => setTimeout(() => r('pending'), 1000))]));
  result.other.level = await el.evaluate((a) => window.__podium.level(a, 10, 50));
  Object.assign(result.other, await el.evaluate((a) => window.__podium.state(a)));
  const o = result.other;
  check('other currentTime > 2 within timeout', reached && o.currentTime > 2,
        { currentTime: o.currentTime, wait_ms: o.wait_ms, error: o.error });
  check('other clock advanced', o.ct_at_playing !== null && o.currentTime >= o.ct_at_playing + ADVANCE,
        { ct_at_playing: o.ct_at_playing, currentTime: o.currentTime });
  check('other audio.error === null', o.error === null, o.error);
  check('other play() resolved', o.play_promise === 'resolved', o.play_promise);
  check('other decoded audio not silent', o.level.rms_max > RMS_MIN && o.level.loud_frames >= 3,
        o.level);
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'podium-chromium-'));
  let context = null;
  // Last resort: if something below hangs past every bound, report and exit
  // (playwright-core kills the browser it launched when the process exits).
  const watchdog = setTimeout(() => {
    result.failures.push('watchdog: play.mjs took longer than its bound');
    emit(1);
    rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }, 2 * opt.timeoutMs + 30000);
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      // playwright adds a plain --headless; ask for the new headless mode explicitly.
      ignoreDefaultArgs: ['--headless'],
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--autoplay-policy=no-user-gesture-required',
             // nothing but 127.0.0.1: host names do not resolve at all
             '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
      viewport: { width: 900, height: 720 },
      timeout: 15000,
    });
    result.chromium = context.browser() ? context.browser().version() : null;
    context.setDefaultTimeout(10000);
    context.on('request', (r) => {
      const u = r.url();
      if (!u.startsWith(origin + '/') && !u.startsWith('about:') && !u.startsWith('data:')) {
        result.requests_offhost.push(u);
      }
    });
    context.on('response', (r) => {
      if (r.status() >= 400) result.http_errors.push(`${r.status()} ${r.url()}`);
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') result.console_errors.push(`${m.text()} [${m.location().url}]`);
    });
    page.on('pageerror', (e) => result.console_errors.push(String(e)));
    await playPage(page);
    if (opt.other) await playOther(page);
    check('only 127.0.0.1 requests', result.requests_offhost.length === 0, result.requests_offhost);
  } catch (e) {
    result.failures.push(`exception: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`);
  } finally {
    if (context) {
      await Promise.race([context.close().catch(() => {}),
                          new Promise((r) => setTimeout(r, 10000))]);
    }
    rmSync(profile, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  emit(result.failures.length ? 1 : 0);
  return result.ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  result.failures.push(`fatal: ${e}`);
  emit(1);
  process.exit(1);
});
