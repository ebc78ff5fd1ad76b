// @ts-nocheck -- a build script run by Node (the UI's type check has no Node types).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minify } from 'terser';

/** Every file under `dir`, relative to it, with '/' separators. */
function filesIn(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesIn(p).map((f) => `${name}/${f}`) : [name];
  });
}

/**
 * The service worker (sw/sw.js) with the app shell it caches: every file of the build but the
 * lead-only screens' (cached when first used), the public files and the page; its version is a hash of their names (Vite puts a content hash in
 * every asset's name), so a new build is a new cache.
 */
const here = fileURLToPath(new URL('..', import.meta.url));

/** The screens only a lead sees, loaded when first opened (App.svelte): not in a worker's shell. */
const LEAD_ONLY = [/\/screens\/People\.svelte$/];

/**
 * The files of the lead-only screens' chunks (their script and styles; a chunk they share with
 * the rest stays in the shell), cached by the service worker when first fetched.
 */
function leadOnly(bundle) {
  const lazy = new Set();
  for (const chunk of Object.values(bundle)) {
    if (chunk.type !== 'chunk' || !chunk.isDynamicEntry) continue;
    if (!LEAD_ONLY.some((re) => re.test(chunk.facadeModuleId ?? ''))) continue;
    lazy.add(chunk.fileName);
    for (const css of chunk.viteMetadata?.importedCss ?? []) lazy.add(css);
  }
  return lazy;
}

/** @returns {import('vite').Plugin} */
export function serviceWorker() {
  return {
    name: 'kith-service-worker',
    apply: 'build',
    async generateBundle(_options, bundle) {
      const publicFiles = filesIn(join(here, 'public'));
      const files = [...new Set([...Object.keys(bundle), ...publicFiles])].filter((f) => !f.endsWith('.map')).sort();
      const lazy = leadOnly(bundle);
      const shell = ['./', './index.html', ...files.filter((f) => f !== 'index.html' && !lazy.has(f)).map((f) => `./${f}`)];
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
      const source = readFileSync(join(here, 'sw', 'sw.js'), 'utf8')
        .replace("'__KITH_VERSION__'", JSON.stringify(version))
        .replace('__KITH_SHELL__', JSON.stringify(shell))
        .replace('__KITH_LAZY__', JSON.stringify([...lazy].sort().map((f) => `./${f}`)));
      // Minified as the app's scripts are (a classic script: its top level stays as written).
      const { code } = await minify(source, { compress: { passes: 2 }, format: { comments: false } });
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code ?? source });
    },
  };
}

