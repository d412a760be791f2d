// An RGBA raster to draw plots into, written as PNG by pngjs. Rendering only: the numbers drawn
// here were computed by native ops elsewhere.
import { writeFile } from 'node:fs/promises';
import { PNG } from 'pngjs';

export type Rgb = [number, number, number];

// 3×5 glyphs, rows top to bottom ('#' = ink): enough for axis numbers and short labels.
const GLYPHS: Record<string, string> = {
  '0': '### #.# #.# #.# ###',
  '1': '.#. ##. .#. .#. ###',
  '2': '### ..# ### #.. ###',
  '3': '### ..# ### ..# ###',
  '4': '#.# #.# ### ..# ..#',
  '5': '### #.. ### ..# ###',
  '6': '### #.. ### #.# ###',
  '7': '### ..# ..# ..# ..#',
  '8': '### #.# ### #.# ###',
  '9': '### #.# ### ..# ###',
  '.': '... ... ... ... .#.',
  '-': '... ... ### ... ...',
  '+': '... .#. ### .#. ...',
  ':': '... .#. ... .#. ...',
  '%': '#.# ..# .#. #.. #.#',
  '/': '..# ..# .#. #.. #..',
  '(': '.#. #.. #.. #.. .#.',
  ')': '.#. ..# ..# ..# .#.',
  ' ': '... ... ... ... ...',
  _: '... ... ... ... ###',
  '=': '... ### ... ### ...',
  ',': '... ... ... .#. #..',
  '[': '##. #.. #.. #.. ##.',
  ']': '.## ..# ..# ..# .##',
  '×': '... #.# .#. #.# ...',
  a: '.#. #.# ### #.# #.#',
  b: '##. #.# ##. #.# ##.',
  c: '### #.. #.. #.. ###',
  d: '##. #.# #.# #.# ##.',
  e: '### #.. ### #.. ###',
  f: '### #.. ### #.. #..',
  g: '### #.. #.# #.# ###',
  h: '#.# #.# ### #.# #.#',
  i: '### .#. .#. .#. ###',
  j: '..# ..# ..# #.# ###',
  k: '#.# #.# ##. #.# #.#',
  l: '#.. #.. #.. #.. ###',
  m: '#.# ### ### #.# #.#',
  n: '##. #.# #.# #.# #.#',
  o: '### #.# #.# #.# ###',
  p: '### #.# ### #.. #..',
  q: '### #.# #.# ### ..#',
  r: '##. #.# ##. #.# #.#',
  s: '### #.. ### ..# ###',
  t: '### .#. .#. .#. .#.',
  u: '#.# #.# #.# #.# ###',
  v: '#.# #.# #.# #.# .#.',
  w: '#.# #.# ### ### #.#',
  x: '#.# #.# .#. #.# #.#',
  y: '#.# #.# .#. .#. .#.',
  z: '### ..# .#. #.. ###',
};

export class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0))
      throw new RangeError(`Canvas: bad size ${width}×${height}`);
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.data.set([...background, 255], i * 4);
  }

  set(x: number, y: number, c: Rgb, alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    for (let k = 0; k < 3; k++) this.data[o + k] = Math.round(this.data[o + k] * (1 - alpha) + c[k] * alpha);
  }

  fillRect(x0: number, y0: number, w: number, h: number, c: Rgb): void {
    for (let y = Math.max(0, Math.round(y0)); y < Math.min(this.height, Math.round(y0 + h)); y++)
      for (let x = Math.max(0, Math.round(x0)); x < Math.min(this.width, Math.round(x0 + w)); x++) {
        const o = (y * this.width + x) * 4;
        this.data[o] = c[0];
        this.data[o + 1] = c[1];
        this.data[o + 2] = c[2];
      }
  }

  /** A line of the given width, drawn as dense round dots (simple and gap-free). */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, width = 1): void {
    const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) * 2));
    const r = (width - 1) / 2;
    for (let i = 0; i <= n; i++) {
      const x = x0 + ((x1 - x0) * i) / n,
        y = y0 + ((y1 - y0) * i) / n;
      if (r <= 0) this.set(x, y, c);
      else
        for (let dy = -Math.ceil(r); dy <= Math.ceil(r); dy++)
          for (let dx = -Math.ceil(r); dx <= Math.ceil(r); dx++) if (dx * dx + dy * dy <= r * r + 0.25) this.set(x + dx, y + dy, c);
    }
  }

  /** Text in the 3×5 font at `scale` pixels per dot; returns the width drawn. Unknown characters are blank. */
  text(x: number, y: number, s: string, c: Rgb = [0, 0, 0], scale = 2): number {
    let cx = x;
    for (const ch of s.toLowerCase()) {
      const g = (GLYPHS[ch] ?? GLYPHS[' ']).split(' ');
      for (let r = 0; r < 5; r++)
        for (let q = 0; q < 3; q++) if (g[r][q] === '#') this.fillRect(cx + q * scale, y + r * scale, scale, scale, c);
      cx += 4 * scale;
    }
    return cx - x;
  }

  static textWidth(s: string, scale = 2): number {
    return s.length * 4 * scale;
  }

  /** Copies an RGB u8 image [h, w, 3] with its top-left corner at (x, y), each pixel as a zoom×zoom block. */
  blit(x: number, y: number, rgb: Uint8Array, w: number, h: number, zoom = 1): void {
    for (let py = 0; py < h; py++)
      for (let px = 0; px < w; px++) {
        const o = (py * w + px) * 3;
        this.fillRect(x + px * zoom, y + py * zoom, zoom, zoom, [rgb[o], rgb[o + 1], rgb[o + 2]]);
      }
  }

  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }

  async save(path: string): Promise<void> {
    await writeFile(path, this.toPng());
  }
}

/** A perceptually ordered dark-blue → teal → yellow ramp (viridis-like stops), t in [0, 1]. */
export function colormap(t: number): Rgb {
  const stops: Rgb[] = [
    [68, 1, 84],
    [59, 82, 139],
    [33, 145, 140],
    [94, 201, 98],
    [253, 231, 37],
  ];
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x)),
    f = x - i;
  return [0, 1, 2].map((k) => Math.round(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f)) as Rgb;
}

export const PALETTE: Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [255, 127, 14],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
];
