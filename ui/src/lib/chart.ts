// Scaling for the small inline SVG charts on the Health screen. Pure: numbers in, coordinates out.

export type Pt = { x: number; y: number };

export type Sparkline = {
  /** SVG path data ("M x y L x y ..."), empty when there are no points. */
  path: string;
  points: Pt[];
  /** The last point (drawn as a dot), if any. */
  last: Pt | null;
};

/**
 * A sparkline for `(time, value)` samples in a `width` × `height` box with `pad` px of margin.
 * x follows time (evenly spaced if all samples share one time); y maps [min, max] to bottom..top,
 * clamping values outside it. Samples are sorted by time first.
 */
export function sparkline(
  samples: ReadonlyArray<readonly [number, number]>,
  width: number,
  height: number,
  range: { min: number; max: number } = { min: 1, max: 5 },
  pad = 2,
): Sparkline {
  if (samples.length === 0) return { path: '', points: [], last: null };
  const sorted = [...samples].sort((a, b) => a[0] - b[0]);
  const t0 = sorted[0]![0];
  const t1 = sorted[sorted.length - 1]![0];
  const w = Math.max(0, width - 2 * pad);
  const h = Math.max(0, height - 2 * pad);
  const span = range.max - range.min || 1;
  const points = sorted.map(([t, v], i) => {
    const fx = t1 > t0 ? (t - t0) / (t1 - t0) : sorted.length > 1 ? i / (sorted.length - 1) : 0.5;
    const fy = (Math.min(range.max, Math.max(range.min, v)) - range.min) / span;
    return { x: round(pad + fx * w), y: round(pad + (1 - fy) * h) };
  });
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x} ${p.y}`).join(' ');
  return { path, points, last: points[points.length - 1] ?? null };
}

export type Bar = { label: string; value: number | null; x: number; y: number; width: number; height: number };

/**
 * Horizontal bars for rates in [0, 1] (null: nothing to rate, drawn as an empty bar), one per
 * row of `rowHeight` with `gap` between, in a box `width` wide.
 */
export function rateBars(
  rows: ReadonlyArray<{ label: string; value: number | null }>,
  width: number,
  rowHeight = 14,
  gap = 6,
): { bars: Bar[]; height: number } {
  const bars = rows.map((r, i) => {
    const v = r.value === null || Number.isNaN(r.value) ? null : Math.min(1, Math.max(0, r.value));
    return { label: r.label, value: v, x: 0, y: i * (rowHeight + gap), width: round((v ?? 0) * width), height: rowHeight };
  });
  const height = rows.length === 0 ? 0 : rows.length * rowHeight + (rows.length - 1) * gap;
  return { bars, height };
}

/** A rate as a whole percentage ("83%"), or "—" when there is nothing to rate. */
export function percent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return '—';
  return `${Math.round(Math.min(1, Math.max(0, rate)) * 100)}%`;
}

/** The direction of a trend, in words, comparing the mean of the last third with the first third. */
export function trendWord(values: readonly number[]): 'rising' | 'falling' | 'steady' | null {
  if (values.length < 3) return null;
  const n = Math.max(1, Math.floor(values.length / 3));
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const d = mean(values.slice(-n)) - mean(values.slice(0, n));
  if (d > 0.25) return 'rising';
  if (d < -0.25) return 'falling';
  return 'steady';
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
