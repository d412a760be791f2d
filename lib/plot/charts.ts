// Chart layouts over the Canvas: line panels (loss and lr curves), a labelled heatmap (the
// cross-frame similarity matrix) and rows of images (reconstruction strips).
import { Canvas, PALETTE, colormap, type Rgb } from './canvas.js';

export interface Series {
  name: string;
  x: number[];
  y: number[];
}

export interface Panel {
  title: string;
  series: Series[];
  /** Log-scale y axis (only when every value is > 0). */
  logY?: boolean;
}

const INK: Rgb = [30, 30, 30],
  GRID: Rgb = [225, 225, 225],
  AXIS: Rgb = [120, 120, 120];

/**
 * Tick label with as many decimals as the tick step needs (so neighbouring ticks differ), or
 * exponent form for values outside [1e-3, 1e4).
 */
export function tickLabel(v: number, step = 0): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) {
    const digits = step > 0 ? Math.min(4, Math.max(1, Math.ceil(Math.log10(a / step)))) : 1;
    return v.toExponential(digits).replace('e+', 'e');
  }
  const decimals = step > 0 ? Math.min(6, Math.max(0, 1 - Math.floor(Math.log10(step)))) : 2;
  return String(Number(v.toFixed(decimals)));
}

function range(xs: number[]): [number, number] {
  let lo = Infinity,
    hi = -Infinity;
  for (const x of xs)
    if (Number.isFinite(x)) {
      lo = Math.min(lo, x);
      hi = Math.max(hi, x);
    }
  if (!Number.isFinite(lo)) return [0, 1];
  if (lo === hi) return [lo - (Math.abs(lo) || 1) * 0.05, hi + (Math.abs(hi) || 1) * 0.05];
  return [lo, hi];
}

/** Panels stacked vertically, each with a grid, 5 y ticks, x ticks and a legend. */
export function linePanels(panels: Panel[], width = 800, panelHeight = 260): Canvas {
  const c = new Canvas(width, panelHeight * panels.length);
  const left = 78,
    right = 16,
    top = 30,
    bottom = 34;
  panels.forEach((p, k) => {
    const y0 = k * panelHeight;
    const pw = width - left - right,
      ph = panelHeight - top - bottom;
    const allX = p.series.flatMap((s) => s.x),
      allY = p.series.flatMap((s) => s.y);
    const log = !!p.logY && allY.length > 0 && allY.every((v) => v > 0);
    const tf = (v: number) => (log ? Math.log10(v) : v);
    const [xl, xh] = range(allX);
    const [yl, yh] = range(allY.map(tf));
    const px = (x: number) => left + ((x - xl) / (xh - xl)) * pw;
    const py = (y: number) => y0 + top + ph - ((tf(y) - yl) / (yh - yl)) * ph;
    c.text(left, y0 + 8, p.title, INK, 2);
    for (let i = 0; i <= 4; i++) {
      const ty = yl + ((yh - yl) * i) / 4;
      const yy = y0 + top + ph - (ph * i) / 4;
      c.line(left, yy, left + pw, yy, GRID);
      const lab = tickLabel(log ? 10 ** ty : ty, log ? 0 : (yh - yl) / 4);
      c.text(left - 6 - Canvas.textWidth(lab), yy - 5, lab, INK, 2);
    }
    // Steps are integers: no more x ticks than steps, so labels never repeat.
    const nx = Math.max(1, Math.min(5, Math.round(xh - xl)));
    for (let i = 0; i <= nx; i++) {
      const tx = xl + ((xh - xl) * i) / nx;
      const xx = left + (pw * i) / nx;
      c.line(xx, y0 + top, xx, y0 + top + ph, GRID);
      const lab = tickLabel(Math.round(tx));
      c.text(xx - Canvas.textWidth(lab) / 2, y0 + top + ph + 8, lab, INK, 2);
    }
    c.line(left, y0 + top + ph, left + pw, y0 + top + ph, AXIS);
    c.line(left, y0 + top, left, y0 + top + ph, AXIS);
    p.series.forEach((s, j) => {
      const col = PALETTE[j % PALETTE.length];
      for (let i = 1; i < s.x.length; i++)
        if (Number.isFinite(s.y[i - 1]) && Number.isFinite(s.y[i])) c.line(px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), col, 2);
      if (s.x.length === 1) c.fillRect(px(s.x[0]) - 2, py(s.y[0]) - 2, 5, 5, col);
      const lx = left + pw - 8 - Canvas.textWidth(s.name) - 20,
        ly = y0 + top + 6 + j * 14;
      c.fillRect(lx, ly + 3, 14, 4, col);
      c.text(lx + 20, ly, s.name, INK, 2);
    });
  });
  return c;
}

/**
 * A square matrix as coloured cells (colour range [lo, hi]), cell values written inside when the
 * cells are large enough, row/column indices along the axes, a colour bar on the right.
 */
export function heatmap(m: number[][], opts: { title?: string; cell?: number; lo?: number; hi?: number } = {}): Canvas {
  const n = m.length,
    cell = opts.cell ?? 40;
  const vals = m.flat();
  const lo = opts.lo ?? Math.min(...vals),
    hi = opts.hi ?? Math.max(...vals);
  const left = 40,
    top = 34,
    bar = 70;
  const c = new Canvas(Math.max(left + n * cell + bar, left + Canvas.textWidth(opts.title ?? '') + 8), top + n * cell + 30);
  if (opts.title) c.text(left, 10, opts.title, INK, 2);
  const t = (v: number) => (hi > lo ? (v - lo) / (hi - lo) : 1);
  for (let i = 0; i < n; i++) {
    c.text(left - 8 - Canvas.textWidth(String(i)), top + i * cell + cell / 2 - 5, String(i), INK, 2);
    c.text(left + i * cell + cell / 2 - Canvas.textWidth(String(i)) / 2, top + n * cell + 8, String(i), INK, 2);
    for (let j = 0; j < n; j++) {
      const col = colormap(t(m[i][j]));
      c.fillRect(left + j * cell, top + i * cell, cell, cell, col);
      if (cell >= 36) {
        const lab = m[i][j].toFixed(2);
        const dark = col[0] * 0.3 + col[1] * 0.59 + col[2] * 0.11 > 140;
        c.text(
          left + j * cell + (cell - Canvas.textWidth(lab, 2)) / 2,
          top + i * cell + cell / 2 - 5,
          lab,
          dark ? INK : [250, 250, 250],
          2,
        );
      }
    }
  }
  const bx = left + n * cell + 14,
    bh = n * cell;
  for (let y = 0; y < bh; y++) c.fillRect(bx, top + y, 14, 1, colormap(1 - y / Math.max(1, bh - 1)));
  c.text(bx + 18, top, tickLabel(hi), INK, 2);
  c.text(bx + 18, top + bh - 10, tickLabel(lo), INK, 2);
  return c;
}

/** Rows of equally sized RGB images [h, w, 3] with a label left of each row. */
export function imageRows(
  rows: { label: string; images: Uint8Array[] }[],
  w: number,
  h: number,
  opts: { zoom?: number; gap?: number } = {},
): Canvas {
  const zoom = opts.zoom ?? 1,
    gap = opts.gap ?? 4;
  const labelW = 8 + Math.max(...rows.map((r) => Canvas.textWidth(r.label)));
  const cols = Math.max(...rows.map((r) => r.images.length));
  const c = new Canvas(labelW + cols * (w * zoom + gap) + gap, rows.length * (h * zoom + gap) + gap);
  rows.forEach((r, i) => {
    const y = gap + i * (h * zoom + gap);
    c.text(4, y + (h * zoom) / 2 - 5, r.label, INK, 2);
    r.images.forEach((img, j) => c.blit(labelW + gap + j * (w * zoom + gap), y, img, w, h, zoom));
  });
  return c;
}
