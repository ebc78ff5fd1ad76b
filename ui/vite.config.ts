import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';
import { precompress } from './precompress.js';
import { serviceWorker } from './sw/plugin.js';

// One build for both hosts: the Tauri app (frontendDist = ../ui/dist) and kith-server (`ui_dir`,
// served at `/`). A relative base makes asset URLs work under either. Everything is bundled: no
// remote content, no inline scripts (the app's CSP is `default-src 'self'`).
export default defineConfig({
  base: './',
  plugins: [svelte(), serviceWorker(), precompress()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // Inlined assets would become data: URLs; keep assets as files (img-src allows data: anyway).
    assetsInlineLimit: 0,
    // Terser, two passes, as an ES module: the worker app's scripts 3.7 KB smaller in brotli
    // than esbuild's minifier (docs/benchmarks.md, "Shrinking the worker app"), for ~10 s of build.
    minify: 'terser',
    terserOptions: { module: true, compress: { passes: 2 }, format: { comments: false } },
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
