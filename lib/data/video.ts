// Probing, decoding and encoding videos through an ffmpeg child process. Decoding asks ffmpeg for
// exactly the frames a clip needs, already cropped and resized (`select`, `crop`, `scale`), as raw
// rgb24 on stdout, so JS only moves whole buffers; long videos are entered with an accurate seek
// close to the first needed frame instead of being decoded from the start.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { MvdError, ValueError } from '../errors.js';
import { resolveFfmpeg } from './ffmpeg.js';
import type { CropBox } from './augment.js';

/** A video or image that cannot be used (missing, empty, corrupt, truncated, timed out, too short). */
export class VideoDecodeError extends MvdError {
  readonly file: string;
  readonly reason: string;
  constructor(file: string, reason: string, message = `cannot decode ${file}: ${reason}`) {
    super(message, { op: 'decode' });
    this.file = file;
    this.reason = reason;
  }
}

/** A readable video with fewer frames than one clip needs. */
export class VideoTooShortError extends VideoDecodeError {
  constructor(
    file: string,
    readonly frames: number,
    readonly needed: number,
  ) {
    const reason = `too short: ${frames} frame${frames === 1 ? '' : 's'}, the clip needs at least ${needed}`;
    super(file, reason, `${file} is ${reason}`);
  }
}

/** What probeVideo learned about a file's first video stream; fps is the average rate, sizes in pixels. */
export interface VideoInfo {
  path: string;
  width: number;
  height: number;
  fps: number;
  /** Decodable frames: demuxed packets counted by ffprobe, not the container's claim. */
  frameCount: number;
  durationSec: number;
  codec: string;
  /**
   * Time of the first decoded frame after the container's start, in seconds. Usually 0, but e.g.
   * MPEG-4 in AVI with B-frames starts one frame late; seeking must add it or land a frame early.
   */
  firstFrameTime: number;
  /**
   * Whether packet timestamps are present, so an accurate seek lands on a known frame. Not for
   * e.g. MPEG-4 with packed B-frames in AVI; such files are decoded from the start.
   */
  seekable: boolean;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stdoutBytes: number;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a child with a hard timeout. stdout goes into one preallocated buffer when the expected size
 * is known (no chunk list to concatenate); stderr keeps its last 8 kB for error messages.
 */
function run(cmd: string, args: string[], opts: { timeoutMs: number; expectBytes?: number; stdin?: Uint8Array }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = Buffer.allocUnsafe(opts.expectBytes ?? 1 << 16);
    let used = 0;
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (used + chunk.length > out.length) {
        if (opts.expectBytes !== undefined) {
          // More than asked for: keep what fits; the caller checks the frame count.
          chunk.copy(out, used, 0, out.length - used);
          used = out.length;
          return;
        }
        const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, used + chunk.length));
        out.copy(bigger, 0, 0, used);
        out = bigger;
      }
      chunk.copy(out, used);
      used += chunk.length;
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr = (stderr + s).slice(-8192);
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: out, stdoutBytes: used, stderr, timedOut });
    });
    if (opts.stdin && child.stdin) {
      child.stdin.on('error', () => {
        // EPIPE when the encoder dies early; its stderr says why.
      });
      child.stdin.end(opts.stdin);
    }
  });
}

function lastLines(stderr: string, n = 3): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.slice(-n).join(' | ') || 'ffmpeg gave no message';
}

function parseRate(r: string | undefined): number {
  if (!r) return 0;
  const [a, b] = r.split('/').map(Number);
  const v = b ? a / b : a;
  return Number.isFinite(v) && v > 0 ? v : 0;
}

async function checkReadable(path: string): Promise<void> {
  try {
    const s = await stat(path);
    if (!s.isFile()) throw new VideoDecodeError(path, 'not a regular file');
    if (s.size === 0) throw new VideoDecodeError(path, 'empty file');
  } catch (e) {
    if (e instanceof VideoDecodeError) throw e;
    throw new VideoDecodeError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (e as Error).message);
  }
}

/** Options of probeVideo; timeoutMs defaults to 30 s per ffprobe/ffmpeg run. */
export interface ProbeOptions {
  timeoutMs?: number;
  /** Set false to probe by parsing `ffmpeg -i` even when ffprobe exists (the no-ffprobe path). */
  useFfprobe?: boolean;
}

/** Width, height, fps and an accurate frame count (packets counted by ffprobe, or by ffmpeg without it). */
export async function probeVideo(path: string, opts: ProbeOptions = {}): Promise<VideoInfo> {
  await checkReadable(path);
  const { ffmpeg, ffprobe } = await resolveFfmpeg();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  if (ffprobe && opts.useFfprobe !== false) {
    const r = await run(
      ffprobe,
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-count_packets',
        '-show_entries',
        'stream=codec_name,width,height,r_frame_rate,avg_frame_rate,nb_frames,nb_read_packets,duration:format=duration,start_time',
        '-of',
        'json',
        path,
      ],
      { timeoutMs },
    );
    if (r.timedOut) throw new VideoDecodeError(path, `ffprobe timed out after ${timeoutMs} ms`);
    if (r.code !== 0) throw new VideoDecodeError(path, lastLines(r.stderr));
    let j: { streams?: Record<string, string | number>[]; format?: { duration?: string; start_time?: string } };
    try {
      j = JSON.parse(r.stdout.subarray(0, r.stdoutBytes).toString('utf8'));
    } catch {
      throw new VideoDecodeError(path, 'ffprobe printed unreadable output');
    }
    const s = j.streams?.[0];
    if (!s) throw new VideoDecodeError(path, 'no video stream');
    const fps = parseRate(s.avg_frame_rate as string) || parseRate(s.r_frame_rate as string);
    const duration = Number(s.duration ?? j.format?.duration ?? 0) || 0;
    // A file cut short (an interrupted download) still opens when its index comes first, and
    // would pass for a shorter video whose last frame is corrupt: the index's frame count says so.
    const claimed = Number(s.nb_frames ?? 0) || 0;
    const present = /^\d+$/.test(String(s.nb_read_packets ?? '')) ? Number(s.nb_read_packets) : null;
    if (present !== null && claimed > 0 && present < claimed)
      throw new VideoDecodeError(path, `truncated: the container lists ${claimed} frames, only ${present} are present`);
    let frameCount = present || claimed;
    if (!frameCount && fps && duration) frameCount = Math.round(fps * duration);
    const info: VideoInfo = {
      path,
      width: Number(s.width),
      height: Number(s.height),
      fps,
      frameCount,
      durationSec: duration || (fps ? frameCount / fps : 0),
      codec: String(s.codec_name ?? ''),
      firstFrameTime: 0,
      seekable: false,
    };
    if (!(info.width > 0 && info.height > 0 && info.frameCount > 0))
      throw new VideoDecodeError(path, `no decodable video frames (probed ${info.width}x${info.height}, ${info.frameCount} frames)`);
    // The first packets and frames tell whether timestamps can be trusted for seeking, and the
    // first frame's offset (a separate run: -read_intervals would also cut the packet count short).
    const f = await run(
      ffprobe,
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-read_intervals',
        '%+#8',
        '-show_entries',
        'packet=pts_time:frame=best_effort_timestamp_time',
        '-of',
        'csv',
        path,
      ],
      { timeoutMs },
    );
    const rows = f.stdout
      .subarray(0, f.stdoutBytes)
      .toString('utf8')
      .split('\n')
      .map((l) => l.split(','));
    const packets = rows.filter((r) => r[0] === 'packet');
    const first = parseFloat(rows.find((r) => r[0] === 'frame')?.[1] ?? 'NaN');
    const start = Number(j.format?.start_time ?? 0) || 0;
    info.seekable = f.code === 0 && packets.length > 0 && packets.every((r) => r[1] !== 'N/A') && Number.isFinite(first);
    if (info.seekable) info.firstFrameTime = Math.max(0, first - start);
    return info;
  }
  return probeWithFfmpeg(ffmpeg, path, timeoutMs);
}

/** Probe without ffprobe: the stream line of `ffmpeg -i`, then a stream-copy pass to count packets. */
async function probeWithFfmpeg(ffmpeg: string, path: string, timeoutMs: number): Promise<VideoInfo> {
  const r = await run(ffmpeg, ['-hide_banner', '-nostdin', '-i', path, '-map', '0:v:0', '-c', 'copy', '-f', 'null', '-', '-stats'], {
    timeoutMs,
  });
  if (r.timedOut) throw new VideoDecodeError(path, `ffmpeg timed out after ${timeoutMs} ms`);
  const stream = /Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})/.exec(r.stderr);
  if (r.code !== 0 || !stream) throw new VideoDecodeError(path, lastLines(r.stderr));
  if (/partial file/.test(r.stderr)) throw new VideoDecodeError(path, `truncated: ${lastLines(r.stderr, 1)}`);
  const fpsM = /, ([\d.]+) fps/.exec(r.stderr) ?? /, ([\d.]+) tbr/.exec(r.stderr);
  const durM = /Duration: (\d+):(\d+):([\d.]+)/.exec(r.stderr);
  const frames = [...r.stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1]));
  const fps = fpsM ? Number(fpsM[1]) : 0;
  const dur = durM ? Number(durM[1]) * 3600 + Number(durM[2]) * 60 + Number(durM[3]) : 0;
  const frameCount = frames.length ? frames[frames.length - 1] : Math.round(fps * dur);
  if (!frameCount) throw new VideoDecodeError(path, 'no decodable video frames');
  // Without ffprobe, timestamps are not checked: decode from the start, which is always exact.
  return {
    path,
    codec: stream[1],
    width: Number(stream[2]),
    height: Number(stream[3]),
    fps,
    frameCount,
    durationSec: dur,
    firstFrameTime: 0,
    seekable: false,
  };
}

/** How decodeFrames crops and scales: resize, then crop(s), then scale each crop to outW×outH, then flip. */
export interface DecodeOptions {
  /** Resize the whole frame to [w, h] first (test-time short-side resize), before cropping. */
  resize?: [number, number];
  /** One crop window (in the possibly resized frame), or several for multi-crop views. */
  crop?: CropBox | CropBox[];
  /** Output size of each crop (bilinear); defaults to the crop size. */
  outW?: number;
  outH?: number;
  /** Mirror horizontally (after cropping). */
  flip?: boolean;
  /** Needed for seeking; probed when missing. */
  info?: VideoInfo;
  /** Seek near the first needed frame (default true). */
  seek?: boolean;
  /** Decoder threads for this child (0 = ffmpeg's choice). Loader workers use 1. */
  threads?: number;
  timeoutMs?: number;
}

/** decodeFrames' result: u8 rgb24 pixels in the frame order asked for, with their dims and the probe used. */
export interface DecodedFrames {
  /** rgb24 frames: [T, H, W, 3], or [C, T, H, W, 3] with several crops. */
  data: Uint8Array;
  shape: number[];
  frames: number;
  height: number;
  width: number;
  crops: number;
  info: VideoInfo;
}

/** Splits ascending integers into [first, last, step] runs of equal spacing. */
export function arithmeticRuns(xs: readonly number[]): [number, number, number][] {
  const runs: [number, number, number][] = [];
  let i = 0;
  while (i < xs.length) {
    if (i + 1 === xs.length) {
      runs.push([xs[i], xs[i], 1]);
      break;
    }
    const step = xs[i + 1] - xs[i];
    let j = i + 1;
    while (j + 1 < xs.length && xs[j + 1] - xs[j] === step) j++;
    runs.push([xs[i], xs[j], step]);
    i = j + 1;
  }
  return runs;
}

/** Ints only: ffmpeg filter arguments are spliced into a filtergraph string. */
function int(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new ValueError(`decodeFrames: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/**
 * Decodes the frames at `frameIndices` (any order, repeats allowed) as rgb24, cropped and scaled
 * by ffmpeg. Returns [T, H, W, 3] in the order asked (or [C, T, H, W, 3] for several crops).
 */
export async function decodeFrames(path: string, frameIndices: ArrayLike<number>, opts: DecodeOptions = {}): Promise<DecodedFrames> {
  const info = opts.info ?? (await probeVideo(path, { timeoutMs: opts.timeoutMs }));
  const T = frameIndices.length;
  if (T === 0) throw new ValueError('decodeFrames: no frame indices');
  const wanted = Array.from(frameIndices, (i) => int('frame index', i, 0));
  const unique = [...new Set(wanted)].sort((a, b) => a - b);
  const last = unique[unique.length - 1];
  if (last >= info.frameCount) throw new ValueError(`decodeFrames: frame ${last} is past the end of ${path} (${info.frameCount} frames)`);

  const [srcW, srcH] = opts.resize ?? [info.width, info.height];
  const crops = opts.crop === undefined ? [{ x: 0, y: 0, w: srcW, h: srcH }] : Array.isArray(opts.crop) ? opts.crop : [opts.crop];
  if (crops.length === 0) throw new ValueError('decodeFrames: empty crop list');
  for (const c of crops) {
    int('crop x', c.x, 0);
    int('crop y', c.y, 0);
    int('crop w', c.w, 1);
    int('crop h', c.h, 1);
    if (c.x + c.w > srcW || c.y + c.h > srcH)
      throw new ValueError(`decodeFrames: crop ${c.w}x${c.h}+${c.x}+${c.y} is outside the ${srcW}x${srcH} frame of ${path}`);
  }
  const outW = int('outW', opts.outW ?? crops[0].w, 1),
    outH = int('outH', opts.outH ?? crops[0].h, 1);
  if (opts.outW === undefined && crops.some((c) => c.w !== crops[0].w || c.h !== crops[0].h))
    throw new ValueError('decodeFrames: crops of different sizes need outW/outH');

  // Enter the stream half a frame before the first wanted frame: the accurate seek drops every
  // frame before that time, so the select filter's counter n starts at frame unique[0].
  const seek = (opts.seek ?? true) && info.seekable && unique[0] > 0 && info.fps > 0;
  const base = seek ? unique[0] : 0;
  const rel = unique.map((i) => i - base);
  // ffmpeg's expression parser fails on very long sums, so runs of equally spaced frames become one
  // term each; if there are still too many, decode the whole span and keep the frames asked for.
  const runs = arithmeticRuns(rel);
  const wholeSpan = runs.length > 48;
  const decodedRel = wholeSpan ? Array.from({ length: rel[rel.length - 1] - rel[0] + 1 }, (_, k) => rel[0] + k) : rel;
  const select = wholeSpan
    ? `select='between(n,${rel[0]},${rel[rel.length - 1]})'`
    : `select='${runs.map(([a, b, st]) => (a === b ? `eq(n,${a})` : st === 1 ? `between(n,${a},${b})` : `between(n,${a},${b})*not(mod(n-${a},${st}))`)).join('+')}'`;
  const pre = [select];
  if (opts.resize) pre.push(`scale=${int('resize w', srcW, 1)}:${int('resize h', srcH, 1)}:flags=bilinear`);
  const perCrop = (c: CropBox) => {
    const f: string[] = [];
    if (c.x !== 0 || c.y !== 0 || c.w !== srcW || c.h !== srcH) f.push(`crop=${c.w}:${c.h}:${c.x}:${c.y}:exact=1`);
    if (c.w !== outW || c.h !== outH || f.length === 0) f.push(`scale=${outW}:${outH}:flags=bilinear`);
    if (opts.flip) f.push('hflip');
    return f.join(',');
  };
  let graph: string;
  if (crops.length === 1) {
    graph = `[0:v:0]${[...pre, perCrop(crops[0])].join(',')},format=rgb24[out]`;
  } else {
    // All crops in one pass: split, crop each, stack vertically; each output frame then holds
    // the C crops as consecutive [H, W, 3] blocks, which are regrouped below by block copies.
    const C = crops.length;
    const labels = crops.map((_, k) => `[s${k}]`).join('');
    const chains = crops.map((c, k) => `[s${k}]${perCrop(c)}[c${k}]`).join(';');
    graph = `[0:v:0]${pre.join(',')},split=${C}${labels};${chains};${crops.map((_, k) => `[c${k}]`).join('')}vstack=inputs=${C},format=rgb24[out]`;
  }
  const args = ['-v', 'error', '-nostdin'];
  if (opts.threads !== undefined) args.push('-threads', String(opts.threads));
  if (seek) args.push('-ss', (info.firstFrameTime + (base - 0.5) / info.fps).toFixed(6));
  args.push('-i', path, '-filter_complex', graph, '-map', '[out]');
  if (opts.threads !== undefined) args.push('-filter_complex_threads', String(Math.max(1, opts.threads)));
  args.push('-fps_mode', 'passthrough', '-frames:v', String(decodedRel.length), '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');

  const C = crops.length;
  const frameBytes = outW * outH * 3 * C;
  const { ffmpeg } = await resolveFfmpeg();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const r = await run(ffmpeg, args, { timeoutMs, expectBytes: frameBytes * decodedRel.length });
  if (r.timedOut) throw new VideoDecodeError(path, `ffmpeg timed out after ${timeoutMs} ms`);
  if (r.code !== 0) throw new VideoDecodeError(path, lastLines(r.stderr));
  const got = Math.floor(r.stdoutBytes / frameBytes);
  if (got < decodedRel.length)
    throw new VideoDecodeError(
      path,
      `decoded ${got} of ${decodedRel.length} requested frames (truncated or corrupt?)${r.stderr ? `: ${lastLines(r.stderr)}` : ''}`,
    );

  // Put the decoded (sorted, unique) frames in the requested order, repeating where asked, and
  // regroup multi-crop output from [T][C] to [C][T]; every move is a whole-frame memcpy.
  const src = r.stdout;
  const pos = new Map(unique.map((f, k) => [f, wholeSpan ? f - base - decodedRel[0] : k]));
  const cropBytes = outW * outH * 3;
  const identity = C === 1 && decodedRel.length === T && wanted.every((f, k) => f === unique[k]) && !wholeSpan;
  let data: Uint8Array;
  if (identity) {
    data = new Uint8Array(src.buffer, src.byteOffset, T * cropBytes);
  } else {
    const dst = Buffer.allocUnsafe(C * T * cropBytes);
    for (let c = 0; c < C; c++)
      for (let t = 0; t < T; t++) {
        const s = pos.get(wanted[t])! * frameBytes + c * cropBytes;
        src.copy(dst, (c * T + t) * cropBytes, s, s + cropBytes);
      }
    data = new Uint8Array(dst.buffer, dst.byteOffset, dst.length);
  }
  const shape = C === 1 ? [T, outH, outW, 3] : [C, T, outH, outW, 3];
  return { data, shape, frames: T, height: outH, width: outW, crops: C, info };
}

/** decodeImage's result: u8 rgb24 pixels, plus the size of the image before cropping or resizing. */
export interface DecodedImage {
  data: Uint8Array;
  /** [H, W, 3] */
  shape: number[];
  width: number;
  height: number;
  sourceWidth: number;
  sourceHeight: number;
}

/** Decodes an image (png, jpg, ...) as rgb24, optionally cropped and resized, through the same ffmpeg. */
export async function decodeImage(
  path: string,
  opts: { crop?: CropBox; outW?: number; outH?: number; timeoutMs?: number } = {},
): Promise<DecodedImage> {
  const info = await probeVideo(path, { timeoutMs: opts.timeoutMs });
  const d = await decodeFrames(path, [0], {
    info,
    crop: opts.crop,
    outW: opts.outW,
    outH: opts.outH,
    seek: false,
    timeoutMs: opts.timeoutMs,
  });
  return {
    data: d.data,
    shape: [d.height, d.width, 3],
    width: d.width,
    height: d.height,
    sourceWidth: info.width,
    sourceHeight: info.height,
  };
}

let encoderCache: Promise<string> | undefined;

/** libx264 when this ffmpeg has it, else the built-in mpeg4 encoder. */
export function pickEncoder(): Promise<string> {
  encoderCache ??= (async () => {
    const { ffmpeg } = await resolveFfmpeg();
    const r = await run(ffmpeg, ['-hide_banner', '-encoders'], { timeoutMs: 20_000 });
    return /\slibx264\s/.test(r.stdout.subarray(0, r.stdoutBytes).toString('utf8')) ? 'libx264' : 'mpeg4';
  })();
  return encoderCache;
}

/** Options of encodeVideo: frame rate (default 25), codec, quality and timeout (default 120 s). */
export interface EncodeOptions {
  fps?: number;
  /** Defaults to pickEncoder(). */
  codec?: string;
  /** libx264 constant rate factor (default 18, visually near-lossless). */
  crf?: number;
  timeoutMs?: number;
}

/** Writes u8 rgb24 frames [T, H, W, 3] to a video file (yuv420p) through ffmpeg's stdin. */
export async function encodeVideo(path: string, frames: Uint8Array, shape: readonly number[], opts: EncodeOptions = {}): Promise<void> {
  const [T, H, W, C] = shape;
  if (shape.length !== 4 || C !== 3 || frames.length !== T * H * W * 3)
    throw new ValueError(`encodeVideo: frames must be [T,H,W,3] u8 matching ${frames.length} bytes, got shape [${shape.join(',')}]`);
  if (H % 2 || W % 2) throw new ValueError(`encodeVideo: yuv420p needs even sizes, got ${W}x${H}`);
  const { ffmpeg } = await resolveFfmpeg();
  const codec = opts.codec ?? (await pickEncoder());
  const args = [
    '-v',
    'error',
    '-y',
    '-f',
    'rawvideo',
    '-pix_fmt',
    'rgb24',
    '-s',
    `${W}x${H}`,
    '-r',
    String(opts.fps ?? 25),
    '-i',
    'pipe:0',
    '-c:v',
    codec,
  ];
  if (codec === 'libx264') args.push('-preset', 'veryfast', '-crf', String(opts.crf ?? 18));
  else args.push('-q:v', '3');
  args.push('-pix_fmt', 'yuv420p', '-movflags', '+faststart', path);
  const r = await run(ffmpeg, args, { timeoutMs: opts.timeoutMs ?? 120_000, stdin: frames });
  if (r.timedOut || r.code !== 0)
    throw new VideoDecodeError(path, r.timedOut ? 'encoder timed out' : `encoding failed: ${lastLines(r.stderr)}`);
}
