/* pow.js: the join puzzle solver for Podium's pages (see docs/internals/gate.md).
 *
 * When a join answer (202 or 429) carries {puzzle: {challenge, difficulty}},
 * find a counter c such that SHA-256(challenge || c as 8 bytes big-endian)
 * starts with `difficulty` zero bits, and send it back with the join.
 * Counters are tried from 0 upwards, exactly as the C solver (src/pow.c)
 * does, so both find the same counter for the same challenge.
 *
 * SHA-256 is implemented here (FIPS 180-4) rather than taken from
 * crypto.subtle: subtle.digest is asynchronous, one promise per hash, far too
 * slow for the ~65,000 hashes of the normal difficulty. The challenge's whole
 * 64-byte blocks are hashed once; each try compresses one block.
 *
 * API (a global PodiumPow in a page, module.exports under node):
 *   sha256(Uint8Array) -> Uint8Array(32)
 *   check(challenge, counter, difficulty) -> boolean
 *   solve(challenge, difficulty, start = 0, itersMax = 2^53) -> counter, or -1
 *   solveAsync(challenge, difficulty, {sliceIters, onProgress}) -> Promise<counter>
 *     (works in slices so the page stays responsive)
 */
(function (root) {
  'use strict';

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2
  ]);
  var H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  var COUNTER_MAX = 9007199254740992; /* 2^53, exclusive */
  var W = new Int32Array(64);

  /* compress: one block of 16 big-endian words (W[0..15]) into state h
   * (8 int32), in place. */
  function compress(h) {
    var i, t1, t2, s0, s1;
    for (i = 16; i < 64; i++) {
      s0 = W[i - 15];
      s1 = W[i - 2];
      W[i] = (((s0 >>> 7) | (s0 << 25)) ^ ((s0 >>> 18) | (s0 << 14)) ^ (s0 >>> 3)) +
             (((s1 >>> 17) | (s1 << 15)) ^ ((s1 >>> 19) | (s1 << 13)) ^ (s1 >>> 10)) +
             W[i - 16] + W[i - 7] | 0;
    }
    var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (i = 0; i < 64; i++) {
      t1 = k + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) +
           ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
      t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) +
           ((a & b) ^ (a & c) ^ (b & c)) | 0;
      k = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
    }
    h[0] = h[0] + a | 0; h[1] = h[1] + b | 0; h[2] = h[2] + c | 0; h[3] = h[3] + d | 0;
    h[4] = h[4] + e | 0; h[5] = h[5] + f | 0; h[6] = h[6] + g | 0; h[7] = h[7] + k | 0;
  }

  function loadBlock(bytes, off) {
    for (var i = 0; i < 16; i++) {
      var p = off + 4 * i;
      W[i] = bytes[p] << 24 | bytes[p + 1] << 16 | bytes[p + 2] << 8 | bytes[p + 3];
    }
  }

  /* padded: bytes followed by SHA-256 padding for a message of totalLen bytes. */
  function padded(bytes, totalLen) {
    var n = bytes.length + 9;
    var out = new Uint8Array(Math.ceil(n / 64) * 64);
    out.set(bytes);
    out[bytes.length] = 0x80;
    var bits = totalLen * 8, end = out.length;
    out[end - 1] = bits & 255;
    out[end - 2] = (bits >>> 8) & 255;
    out[end - 3] = (bits >>> 16) & 255;
    out[end - 4] = (bits >>> 24) & 255;
    var hi = Math.floor(bits / 4294967296);
    out[end - 5] = hi & 255;
    out[end - 6] = (hi >>> 8) & 255;
    out[end - 7] = (hi >>> 16) & 255;
    out[end - 8] = (hi >>> 24) & 255;
    return out;
  }

  function sha256(bytes) {
    var h = new Int32Array(H0), msg = padded(bytes, bytes.length), out = new Uint8Array(32);
    for (var off = 0; off < msg.length; off += 64) {
      loadBlock(msg, off);
      compress(h);
    }
    for (var i = 0; i < 8; i++) {
      out[4 * i] = h[i] >>> 24; out[4 * i + 1] = h[i] >>> 16;
      out[4 * i + 2] = h[i] >>> 8; out[4 * i + 3] = h[i];
    }
    return out;
  }

  function ascii(s) {
    var b = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) {
      var c = s.charCodeAt(i);
      if (c > 126) throw new Error('challenge is not ASCII');
      b[i] = c;
    }
    return b;
  }

  /* zeroBits: whether state h starts with d zero bits. */
  function zeroBits(h, d) {
    for (var i = 0; d > 0; i++, d -= 32) {
      if (d >= 32) { if (h[i] !== 0) return false; }
      else if ((h[i] >>> (32 - d)) !== 0) return false;
    }
    return true;
  }

  /* Solver state: the challenge's whole blocks hashed once; the tail block(s)
   * with the counter at a fixed offset. */
  function prepare(challenge) {
    var bytes = ascii(challenge), whole = bytes.length - bytes.length % 64;
    var mid = new Int32Array(H0);
    for (var off = 0; off < whole; off += 64) {
      loadBlock(bytes, off);
      compress(mid);
    }
    var tail = new Uint8Array(bytes.length - whole + 8);
    tail.set(bytes.subarray(whole));
    return {mid: mid, tail: padded(tail, bytes.length + 8), at: bytes.length - whole,
            h: new Int32Array(8)};
  }

  function attempt(st, c, d) {
    var t = st.tail, at = st.at, hi = Math.floor(c / 4294967296), lo = c >>> 0;
    t[at] = hi >>> 24; t[at + 1] = hi >>> 16; t[at + 2] = hi >>> 8; t[at + 3] = hi;
    t[at + 4] = lo >>> 24; t[at + 5] = lo >>> 16; t[at + 6] = lo >>> 8; t[at + 7] = lo;
    st.h.set(st.mid);
    for (var off = 0; off < t.length; off += 64) {
      loadBlock(t, off);
      compress(st.h);
    }
    return zeroBits(st.h, d);
  }

  function check(challenge, counter, difficulty) {
    if (!(counter >= 0 && counter < COUNTER_MAX && Math.floor(counter) === counter)) return false;
    return attempt(prepare(challenge), counter, difficulty);
  }

  function solve(challenge, difficulty, start, itersMax) {
    var st = prepare(challenge), c = start || 0;
    var end = Math.min(COUNTER_MAX, c + (itersMax === undefined ? COUNTER_MAX : itersMax));
    for (; c < end; c++)
      if (attempt(st, c, difficulty)) return c;
    return -1;
  }

  function solveAsync(challenge, difficulty, opts) {
    opts = opts || {};
    var slice = opts.sliceIters || 20000, next = 0;
    return new Promise(function (resolve, reject) {
      function step() {
        try {
          var c = solve(challenge, difficulty, next, slice);
          if (c >= 0) return resolve(c);
          next += slice;
          if (next >= COUNTER_MAX) return reject(new Error('no solution'));
          if (opts.onProgress) opts.onProgress(next);
          setTimeout(step, 0);
        } catch (e) {
          reject(e);
        }
      }
      step();
    });
  }

  var api = {sha256: sha256, check: check, solve: solve, solveAsync: solveAsync};
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.PodiumPow = api;
})(typeof self !== 'undefined' ? self : this);
