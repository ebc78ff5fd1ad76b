// A short two-tone beep for a new urgent alert, synthesized with WebAudio: no audio asset.
// Browsers only let audio start after a user gesture, so `unlockAudio` is called on the first
// pointer/key event; until then the beep is silently skipped (the notification still shows).

let ctx: AudioContext | null = null;

function context(): AudioContext | null {
  if (ctx) return ctx;
  const C = (globalThis as { AudioContext?: typeof AudioContext }).AudioContext;
  if (!C) return null;
  try {
    ctx = new C();
  } catch {
    ctx = null;
  }
  return ctx;
}

export function unlockAudio(): void {
  const c = context();
  if (c && c.state === 'suspended') void c.resume().catch(() => {});
}

/** Two short tones (~0.5 s in all). */
export function beep(): void {
  const c = context();
  if (!c || c.state !== 'running') return;
  const t0 = c.currentTime;
  for (const [i, freq] of [880, 660].entries()) {
    const osc = c.createOscillator();
    const gain = c.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    const start = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
    osc.connect(gain).connect(c.destination);
    osc.start(start);
    osc.stop(start + 0.2);
  }
}
