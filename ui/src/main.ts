import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';

const target = document.getElementById('app');
if (!target) throw new Error('Kith: #app is missing from index.html');

// In a browser (not the Tauri app): the service worker caches the app shell, so Kith opens with
// no signal (ui/sw/sw.js). Only in a build: the dev server has none.
if (
  import.meta.env.PROD &&
  !('__TAURI_INTERNALS__' in window) &&
  'serviceWorker' in navigator &&
  /^https?:$/.test(location.protocol)
) {
  navigator.serviceWorker.register('./sw.js', { scope: './' }).catch((e: unknown) => {
    console.warn('Kith: no offline copy of the app (the service worker did not register):', e);
  });
}

export default mount(App, { target });
