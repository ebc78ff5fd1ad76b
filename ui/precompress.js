// @ts-nocheck -- a build script run by Node (the UI's type check has no Node types).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { gzipAsync as zopfliGzip } from '@gfx/zopfli';

/** What is worth compressing: text and WebAssembly (images and fonts are compressed already). */
const COMPRESSIBLE = /\.(html|js|mjs|css|wasm|svg|json|webmanifest|txt)$/;
/** Below this a compressed answer saves less than its headers cost. */
const MIN_BYTES = 1024;

function filesIn(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesIn(p) : [p];
  });
}

/**
 * The gzip copy of one file: zopfli (the same gzip format any browser reads, found by a slower,
 * more thorough search: 5 % smaller than zlib's level 9 on this build's WebAssembly, 541 KB
 * against 568 KB; docs/benchmarks.md "The phone web app"), or zlib's level 9 if that is smaller.
 *
 * @param {Buffer} bytes
 * @returns {Promise<Uint8Array>}
 */
async function gzipBest(bytes) {
  const nine = gzipSync(bytes, { level: 9 });
  const zopfli = await zopfliGzip(bytes, { numiterations: ZOPFLI_ITERATIONS });
  return zopfli.length < nine.length ? zopfli : nine;
}

/**
 * zopfli's passes per block. 5 against its default 15: 113 bytes more on the WebAssembly,
 * 14 s for it instead of 20 s (1 pass: 1.3 KB more, no faster).
 */
const ZOPFLI_ITERATIONS = 5;

/**
 * Writes `<file>.br` (brotli 11) and `<file>.gz` (gzip, by zopfli) next to every compressible
 * file of the build, once it is written: kith-server sends them as they are to a browser that
 * accepts them (crates/kith-server/src/ui.rs). Compressing at build time gives the best ratios at
 * no cost per request: the phone web app's WebAssembly is ~430 KB in brotli 11 and ~540 KB in
 * zopfli's gzip against ~570 KB in the gzip the server would make on the fly (docs/benchmarks.md, "The phone web app"). A copy no smaller
 * than its file is not written. The service worker's shell names the plain files only: the
 * browser picks the encoding per request.
 *
 * @returns {import('vite').Plugin}
 */
export function precompress() {
  let outDir = 'dist';
  return {
    name: 'kith-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      for (const file of filesIn(outDir)) {
        if (!COMPRESSIBLE.test(file)) continue;
        const bytes = readFileSync(file);
        if (bytes.length < MIN_BYTES) continue;
        const br = brotliCompressSync(bytes, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
            [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
          },
        });
        const gz = await gzipBest(bytes);
        if (br.length < bytes.length) writeFileSync(`${file}.br`, br);
        if (gz.length < bytes.length) writeFileSync(`${file}.gz`, gz);
      }
    },
  };
}
