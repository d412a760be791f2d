// Test videos made on the fly with ffmpeg's lavfi sources, plus small comparisons that tests
// (not the library) are allowed to loop over.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEMO_MP4 = '/work/shared/data/videos/demo.mp4';
export const TEST_AVI = '/work/shared/data/videos/test.avi';

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'mvd-data-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function ffmpeg(args: string[]): void {
  execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A lossless (ffv1, rgb) video whose pixel (x, y) of frame n is (x, y, 5n): every decoded value
 * says exactly which frame and which source pixel it came from. Needs w, h ≤ 256 and frames ≤ 51.
 */
export function makeRampVideo(path: string, opts: { frames: number; w?: number; h?: number; fps?: number }): string {
  const w = opts.w ?? 160,
    h = opts.h ?? 120;
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `nullsrc=s=${w}x${h}:r=${opts.fps ?? 25}`,
    '-vf',
    "format=gbrp,geq=r='X':g='Y':b='N*5'",
    '-frames:v',
    String(opts.frames),
    '-c:v',
    'ffv1',
    '-pix_fmt',
    'gbrp',
    path,
  ]);
  return path;
}

/** ffmpeg's testsrc pattern (moving gradient and a frame counter) as H.264 mp4. */
export function makeTestsrcMp4(path: string, opts: { frames: number; w?: number; h?: number; fps?: number }): string {
  ffmpeg([
    '-f',
    'lavfi',
    '-i',
    `testsrc=size=${opts.w ?? 320}x${opts.h ?? 240}:rate=${opts.fps ?? 25}`,
    '-frames:v',
    String(opts.frames),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-pix_fmt',
    'yuv420p',
    path,
  ]);
  return path;
}

export function makePng(path: string, w = 97, h = 65): string {
  ffmpeg(['-f', 'lavfi', '-i', `testsrc=size=${w}x${h}:rate=1`, '-frames:v', '1', path]);
  return path;
}

/** Mean absolute difference of two equally long byte arrays. */
export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Frame t of a [T, H, W, 3] buffer. */
export function frameOf(data: Uint8Array, t: number, h: number, w: number): Uint8Array {
  const n = h * w * 3;
  return data.subarray(t * n, (t + 1) * n);
}

/** Pixel (x, y) of frame t of a [T, H, W, 3] buffer. */
export function pixel(data: Uint8Array, t: number, x: number, y: number, h: number, w: number): [number, number, number] {
  const o = ((t * h + y) * w + x) * 3;
  return [data[o], data[o + 1], data[o + 2]];
}
