// @ts-nocheck -- a build script run by Node (the UI's type check has no Node types).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

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
 * Writes `<file>.br` (brotli 11) and `<file>.gz` (gzip 9) next to every compressible file of the
 * build, once it is written: kith-server sends them as they are to a browser that accepts them
 * (crates/kith-server/src/ui.rs). Compressing at build time gives the best ratios at no cost per
 * request: the phone web app's WebAssembly is ~450 KB in brotli 11 against ~630 KB in the gzip
 * the server would make on the fly (docs/benchmarks.md, "The phone web app"). A copy no smaller
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
    closeBundle() {
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
        const gz = gzipSync(bytes, { level: 9 });
        if (br.length < bytes.length) writeFileSync(`${file}.br`, br);
        if (gz.length < bytes.length) writeFileSync(`${file}.gz`, gz);
      }
    },
  };
}
