// @ts-nocheck -- a build script run by Node (the UI's type check has no Node types).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Every file under `dir`, relative to it, with '/' separators. */
function filesIn(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesIn(p).map((f) => `${name}/${f}`) : [name];
  });
}

/**
 * The service worker (sw/sw.js) with the app shell it caches: every file of the build, the
 * public files and the page; its version is a hash of their names (Vite puts a content hash in
 * every asset's name), so a new build is a new cache.
 */
const here = fileURLToPath(new URL('..', import.meta.url));

/** @returns {import('vite').Plugin} */
export function serviceWorker() {
  return {
    name: 'kith-service-worker',
    apply: 'build',
    generateBundle(_options, bundle) {
      const publicFiles = filesIn(join(here, 'public'));
      const files = [...new Set([...Object.keys(bundle), ...publicFiles])].filter((f) => !f.endsWith('.map')).sort();
      const shell = ['./', './index.html', ...files.filter((f) => f !== 'index.html').map((f) => `./${f}`)];
      const version = createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
      const source = readFileSync(join(here, 'sw', 'sw.js'), 'utf8')
        .replace("'__KITH_VERSION__'", JSON.stringify(version))
        .replace('__KITH_SHELL__', JSON.stringify(shell));
      this.emitFile({ type: 'asset', fileName: 'sw.js', source });
    },
  };
}

