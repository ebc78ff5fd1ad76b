// What a WebAssembly module is made of, by crate, raw and compressed (docs/benchmarks.md, "The
// phone web app": issue 12's worker app under 500 KB gzipped). Not a test: it prints a table.
//
//   node e2e/bench/wasm-size.mjs <module bound WITHOUT --remove-name-section> [<as shipped>]
//
// The first module must keep its name section (wasm-bindgen without `--remove-name-section`):
// each function's body is put in a group by the crate its name mentions (the first rule below that
// matches, so a generic instantiated for an Automerge type counts for Automerge when its name says
// so; with the standard library prebuilt, std's generics' names do not say for which type, and
// land in "alloc"/"core"). Per group: its bodies' bytes, their gzip -9 alone, and its marginal
// gzip -9: the code section's gzip minus the same without the group's bodies (what removing it
// would save, roughly). The second module (optional, the one shipped, no names) gets its sizes in
// gzip -9, zopfli (5 passes, as ui/precompress.js) and brotli 11.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const [named, shipped] = process.argv.slice(2);
if (!named) {
  console.error('usage: node e2e/bench/wasm-size.mjs <module with names> [<module as shipped>]');
  process.exit(2);
}

const RULES = [
  ['hexane', /hexane/],
  ['automerge', /automerge/],
  ['zlib-rs, flate2 (Automerge\'s compressed columns)', /zlib_rs|flate2|adler|crc32/],
  ['serde_json', /serde_json/],
  ['ciborium (CBOR)', /ciborium/],
  ['serde', /serde/],
  ['kith-web', /kith_web/],
  ['kith-core', /kith_core/],
  ['kith-domain', /kith_domain/],
  ['kith-proto', /kith_proto/],
  ['kith-api', /kith_api/],
  ['unicode tables and segmentation', /unicode|ucd/],
  ['wasm-bindgen, js-sys', /wasm_bindgen|js_sys|__wbg|__wbindgen|externref/],
  ['uuid, rand, getrandom', /uuid|rand|getrandom/],
  ['sha2', /sha2|digest|block_buffer/],
  ['hashbrown', /hashbrown/],
  ['dlmalloc', /dlmalloc/],
  ['core::fmt, float formatting, Debug/Display', /core.*(fmt|flt2dec|dec2flt)|Debug|Display/],
  ['panics', /panic|unwrap_failed|expect_failed|bounds_check|assert_failed/],
  ['alloc: B-tree maps', /btree/],
  ['core: sorts', /sort|merge|heapsort|quicksort|smallsort/],
  ['alloc: other', /alloc/],
  ['core: other', /core/],
  ['std: other', /std/],
];

/** The module's function bodies (code section), their names (name section) and its data section. */
function parse(buf) {
  let p = 8;
  const leb = () => {
    let r = 0;
    let s = 0;
    let b;
    do {
      b = buf[p++];
      r += (b & 0x7f) * 2 ** s;
      s += 7;
    } while (b & 0x80);
    return r;
  };
  const skipName = () => {
    const l = leb();
    p += l;
  };
  let imported = 0;
  const bodies = [];
  const names = new Map();
  let data = Buffer.alloc(0);
  while (p < buf.length) {
    const id = buf[p++];
    const size = leb();
    const end = p + size;
    if (id === 2) {
      // imports: count the imported functions (they come first in the function index space)
      const n = leb();
      for (let i = 0; i < n; i++) {
        skipName();
        skipName();
        const kind = buf[p++];
        if (kind === 0) {
          leb();
          imported++;
        } else if (kind === 1) {
          p++;
          const f = buf[p++];
          leb();
          if (f & 1) leb();
        } else if (kind === 2) {
          const f = buf[p++];
          leb();
          if (f & 1) leb();
        } else if (kind === 3) p += 2;
        else leb();
      }
    } else if (id === 10) {
      const n = leb();
      for (let i = 0; i < n; i++) {
        const s = leb();
        bodies.push(buf.subarray(p, p + s));
        p += s;
      }
    } else if (id === 11) {
      data = buf.subarray(p, end);
    } else if (id === 0) {
      const l = leb();
      const custom = buf.subarray(p, p + l).toString();
      p += l;
      while (custom === 'name' && p < end) {
        const sub = buf[p++];
        const subEnd = leb() + p;
        if (sub === 1) {
          const n = leb();
          for (let i = 0; i < n; i++) {
            const idx = leb();
            const l2 = leb();
            names.set(idx, buf.subarray(p, p + l2).toString());
            p += l2;
          }
        }
        p = subEnd;
      }
    }
    p = end;
  }
  return { bodies: bodies.map((b, i) => ({ b, name: names.get(i + imported) ?? '' })), data, named: names.size > 0 };
}

const gz = (b) => gzipSync(b, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1);

const { bodies, data, named: hasNames } = parse(readFileSync(named));
if (!hasNames) {
  console.error(`${named} has no name section: bind it with wasm-bindgen without --remove-name-section`);
  process.exit(2);
}
const group = (name) => RULES.find(([, re]) => re.test(name))?.[0] ?? 'unnamed';
for (const f of bodies) f.group = group(f.name);
const code = Buffer.concat(bodies.map((f) => f.b));
const codeGz = gz(code);
console.log(
  `${named}: code ${kb(code.length)} KB (${kb(codeGz)} KB gzip -9), ${bodies.length} functions; ` +
    `data ${kb(data.length)} KB (${kb(gz(data))} KB gzip -9)\n`,
);
console.log('| group | functions | raw KB | gzip -9 alone KB | gzip -9 marginal KB |');
console.log('|---|---:|---:|---:|---:|');
const rows = [...new Set(bodies.map((f) => f.group))].map((g) => {
  const mine = bodies.filter((f) => f.group === g);
  const without = Buffer.concat(bodies.filter((f) => f.group !== g).map((f) => f.b));
  const raw = mine.reduce((n, f) => n + f.b.length, 0);
  return [g, mine.length, raw, gz(Buffer.concat(mine.map((f) => f.b))), codeGz - gz(without)];
});
rows.sort((a, b) => b[4] - a[4]);
for (const [g, n, raw, alone, marginal] of rows) console.log(`| ${g} | ${n} | ${kb(raw)} | ${kb(alone)} | ${kb(marginal)} |`);

if (shipped) {
  const require = createRequire(new URL('../../ui/package.json', import.meta.url));
  const { gzipAsync } = await import(require.resolve('@gfx/zopfli'));
  const b = readFileSync(shipped);
  const zopfli = (await gzipAsync(b, { numiterations: 5 })).length;
  const br = brotliCompressSync(b, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_SIZE_HINT]: b.length },
  }).length;
  console.log(`\n${shipped}: raw ${b.length} B, gzip -9 ${gz(b)} B, zopfli ${zopfli} B (${kb(zopfli)} KB), brotli 11 ${br} B (${kb(br)} KB)`);
}
