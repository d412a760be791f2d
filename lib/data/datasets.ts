// Video and image datasets: VideoMAE/MVD list files (`path label` per line), folder-per-class
// trees, image folders, a train/val split, and the clip dataset that turns a video into the u8
// frames of one training sample with the `--on-bad-video skip|fail` policy.
import { readFile, readdir } from 'node:fs/promises';
import { dirname, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { MvdError, ValueError } from '../errors.js';
import { centreCrop, flipFlag, multiScaleCrop, randAugment, randomErasing, randomResizedCrop, testCrops } from './augment.js';
import { randAugmentArray, resizeCropArray } from '../ops/augment.js';
import { Rng } from './rng.js';
import { denseCentreIndices, denseTestIndices, denseTrainIndices, pretrainIndices, tsnTestIndices, tsnTrainIndices } from './sampling.js';
import type {
  BadVideoPolicy,
  BadVideoReport,
  ClipMeta,
  ClipSample,
  ClipSource,
  ClipTransform,
  DatasetSpec,
  ExactSample,
  SkippedVideo,
  VideoItem,
} from './types.js';
import { VideoDecodeError, VideoTooShortError, decodeFrames, probeVideo, type VideoInfo } from './video.js';
import { BadVideoLog, NoUsableVideosError, checkBadVideoPolicy, replacementOrder } from './bad-videos.js';

export type { BadVideoPolicy, BadVideoReport, SkippedVideo, VideoItem } from './types.js';

/** A malformed list file line. */
export class ListFileError extends MvdError {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
  }
}

/**
 * File extensions (lower case, with the dot) that folder scans take for videos; matched case-insensitively.
 */
export const VIDEO_EXTENSIONS = ['.mp4', '.avi', '.mkv', '.webm', '.mov', '.m4v', '.mpg', '.mpeg', '.ogv', '.flv'];
/** File extensions (lower case, with the dot) that image-folder scans take for images. */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.bmp', '.webp', '.tif', '.tiff'];

/**
 * Parses a list file: one `path label` per line, separated by whitespace; the label is the last
 * field (so paths may contain spaces), an integer ≥ 0. Blank lines and lines starting with '#' are
 * skipped. Relative paths are resolved against `root`.
 */
export function parseListFile(text: string, opts: { root?: string; file?: string } = {}): VideoItem[] {
  const file = opts.file ?? '<list>';
  const items: VideoItem[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(.*\S)\s+(\S+)$/.exec(line);
    if (!m) throw new ListFileError(file, n + 1, `expected 'path label', got '${line}'`);
    const label = Number(m[2]);
    if (!/^\d+$/.test(m[2]) || !Number.isSafeInteger(label))
      throw new ListFileError(file, n + 1, `label '${m[2]}' is not a non-negative integer (line: '${line}')`);
    const path = opts.root && !isAbsolute(m[1]) ? join(opts.root, m[1]) : m[1];
    items.push({ path, label });
  }
  return items;
}

/** Reads a list file; relative paths resolve against `root` (default: the list file's folder). */
export async function readListFile(file: string, opts: { root?: string } = {}): Promise<VideoItem[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ValueError(`cannot read list file ${file}: ${(e as Error).message}`);
  }
  return parseListFile(text, { root: opts.root ?? dirname(resolve(file)), file });
}

/** Writes items back as list-file text (paths relative to root when inside it). */
export function formatListFile(items: readonly VideoItem[], root?: string): string {
  return items.map((it) => `${root ? relative(root, it.path) : it.path} ${it.label}`).join('\n') + (items.length ? '\n' : '');
}

/** A scanned dataset folder: items with labels, and the class names they index (none for a flat image folder). */
export interface ClassFolders {
  items: VideoItem[];
  /** Class names, sorted; label = position. */
  classes: string[];
}

/**
 * A folder-per-class tree: root/<class>/**\/<file>. Classes are the sorted subfolder names; files
 * are sorted so the item order is stable across machines. Files directly under root are ignored.
 */
export async function scanClassFolders(root: string, opts: { extensions?: string[] } = {}): Promise<ClassFolders> {
  const exts = new Set((opts.extensions ?? VIDEO_EXTENSIONS).map((e) => e.toLowerCase()));
  const entries = await readdir(root, { withFileTypes: true }).catch((e: Error) => {
    throw new ValueError(`cannot read dataset folder ${root}: ${e.message}`);
  });
  const classes = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  const items: VideoItem[] = [];
  for (let label = 0; label < classes.length; label++) {
    for (const f of await walkFiles(join(root, classes[label]))) if (exts.has(extname(f).toLowerCase())) items.push({ path: f, label });
  }
  if (items.length === 0) throw new ValueError(`no ${[...exts].join('/')} files under class folders of ${root}`);
  return { items, classes };
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walkFiles(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * Images for the image teacher: class subfolders when there are any (labelled like
 * scanClassFolders), else every image under root with label 0.
 */
export async function scanImageFolder(root: string): Promise<ClassFolders> {
  const entries = await readdir(root, { withFileTypes: true });
  if (entries.some((e) => e.isDirectory() && !e.name.startsWith('.'))) return scanClassFolders(root, { extensions: IMAGE_EXTENSIONS });
  const items = (await walkFiles(root))
    .filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase()))
    .map((path) => ({ path, label: 0 }));
  if (items.length === 0) throw new ValueError(`no image files under ${root}`);
  return { items, classes: [] };
}

/**
 * Deterministic train/val split: a seeded shuffle, the first round(valFraction·n) go to val.
 * Each part keeps the input's relative order. With `stratifyBy`, each class is split on its own.
 */
export function splitTrainVal<T>(
  items: readonly T[],
  opts: { valFraction?: number; seed?: number; stratifyBy?: (item: T) => number } = {},
): { train: T[]; val: T[] } {
  const frac = opts.valFraction ?? 0.1;
  if (!(frac >= 0 && frac <= 1)) throw new ValueError(`valFraction must be in [0, 1], got ${frac}`);
  const rng = new Rng(opts.seed ?? 0, 0x5b17);
  const groups = new Map<number, number[]>();
  items.forEach((it, i) => {
    const g = opts.stratifyBy ? opts.stratifyBy(it) : 0;
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(i);
  });
  const isVal = new Uint8Array(items.length);
  for (const g of [...groups.keys()].sort((a, b) => a - b)) {
    const ids = rng.shuffle([...groups.get(g)!]);
    const k = Math.round(frac * ids.length);
    for (let j = 0; j < k; j++) isVal[ids[j]] = 1;
  }
  return { train: items.filter((_, i) => !isVal[i]), val: items.filter((_, i) => isVal[i]) };
}

/** Options of VideoClipDataset: the videos, how clips are cut from them, and the bad-video handling. */
export interface VideoClipDatasetOptions {
  items: VideoItem[];
  transform: ClipTransform;
  /** 'skip' (default): leave a bad video out and report it once; 'fail': throw its VideoDecodeError. */
  onBadVideo?: BadVideoPolicy;
  /** Random replacement draws for a bad training video before the list is swept (default 20). */
  maxSkips?: number;
  /** Fewer frames than this make a video bad (default: the transform's numFrames, 16). */
  minFrames?: number;
  decodeThreads?: number;
  timeoutMs?: number;
  /** Called once per bad file, when first met under 'skip' (never under 'fail'). */
  onBad?: (r: BadVideoReport) => void;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function nonNegativeInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0) throw new ValueError(`VideoClipDataset: ${name} must be a non-negative integer, got ${v}`);
  return v;
}

type Attempt = { sample: ClipSample; report?: undefined } | { sample: null; report: BadVideoReport; isNew: boolean };

/**
 * Clips cut from video files by a ClipTransform; decoding through ffmpeg. A file found bad is
 * remembered with its reason and never opened again by this instance. A file whose probe passes
 * but whose frames fail to decode for one clip counts as bad from then on: the truncation and
 * length checks of the probe catch the usual cases before any clip is cut.
 */
export class VideoClipDataset implements ClipSource {
  readonly items: VideoItem[];
  readonly transform: ClipTransform;
  readonly policy: BadVideoPolicy;
  readonly minFrames: number;
  /** Every bad video met so far by this instance, once per file. */
  readonly bad: BadVideoReport[] = [];
  private readonly known = new BadVideoLog();
  private readonly draws: number;
  private readonly probes = new Map<string, Promise<VideoInfo>>();

  constructor(private readonly opts: VideoClipDatasetOptions) {
    this.items = opts.items;
    this.transform = opts.transform;
    this.policy = checkBadVideoPolicy(opts.onBadVideo ?? 'skip', 'VideoClipDataset');
    this.draws = nonNegativeInt('maxSkips', opts.maxSkips ?? 20);
    this.minFrames = nonNegativeInt('minFrames', opts.minFrames ?? opts.transform.numFrames ?? 16);
    if (this.items.length === 0) throw new ValueError('VideoClipDataset: no videos');
  }

  get length(): number {
    return this.items.length;
  }

  /** The bad videos left out so far, once per file, in the order met. */
  get skippedVideos(): SkippedVideo[] {
    return this.known.list();
  }

  datasetSpec(): DatasetSpec {
    const o = this.opts;
    return {
      kind: 'videos',
      items: this.items,
      transform: this.transform,
      onBadVideo: this.policy,
      maxSkips: this.draws,
      minFrames: this.minFrames,
      decodeThreads: o.decodeThreads,
      timeoutMs: o.timeoutMs,
    };
  }

  /** A dataset over the same files whose pretraining clips also carry the image teacher's input. */
  withImageTeacherSize(size: number): VideoClipDataset {
    if (!Number.isInteger(size) || size <= 0) throw new ValueError(`imageTeacherSize must be a positive integer, got ${size}`);
    if (this.transform.kind !== 'pretrain')
      throw new ValueError(`imageTeacherSize applies to the pretraining transform, not '${this.transform.kind}'`);
    return new VideoClipDataset({ ...this.opts, transform: { ...this.transform, imageTeacherSize: size } });
  }

  /** Probes once per file (frame count, size, fps); a failed probe is not cached. */
  probe(path: string): Promise<VideoInfo> {
    let p = this.probes.get(path);
    if (!p) {
      p = probeVideo(path, { timeoutMs: this.opts.timeoutMs });
      this.probes.set(path, p);
      p.catch(() => this.probes.delete(path));
    }
    return p;
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length)
      throw new ValueError(`VideoClipDataset: index ${index} is outside [0, ${this.length})`);
  }

  /** Loads item `i` with Rng(seed); a bad video is recorded (and reported, once) unless `policy` is 'fail'. */
  private async attempt(i: number, seed: number, policy: BadVideoPolicy): Promise<Attempt> {
    const item = this.items[i];
    try {
      const s = await this.load(item, new Rng(seed));
      return { sample: { ...s, label: item.label, index: i, requested: i, bad: [] } };
    } catch (e) {
      if (!(e instanceof VideoDecodeError) || policy === 'fail') throw e;
      const report = { index: i, file: item.path, reason: e.reason };
      const isNew = this.known.add(item.path, e.reason);
      if (isNew) {
        this.bad.push(report);
        this.opts.onBad?.(report);
      }
      return { sample: null, report, isNew };
    }
  }

  /**
   * A training sample for `index`, all random choices from Rng(seed). Under 'skip' a bad video
   * is replaced by the first usable index of replacementOrder(index, seed): the choice depends on
   * (seed, index) only, so batches do not depend on timing and a resumed run sees the same ones.
   */
  async get(index: number, seed: number): Promise<ClipSample> {
    this.checkIndex(index);
    const met: BadVideoReport[] = [];
    const order = this.policy === 'fail' ? [index] : replacementOrder(index, seed, this.length, this.draws);
    for (const i of order) {
      const path = this.items[i].path,
        known = this.known.reason(path);
      if (known !== undefined) {
        // Known through a scoring pass under 'skip'; this dataset's own policy still holds here.
        if (this.policy === 'fail') throw new VideoDecodeError(path, known);
        continue;
      }
      const a = await this.attempt(i, seed, this.policy);
      if (a.sample) return { ...a.sample, requested: index, bad: met };
      if (a.isNew) met.push(a.report);
    }
    throw new NoUsableVideosError('VideoClipDataset', this.length, this.skippedVideos);
  }

  /** Exactly item `index` for scoring: skipped (never replaced) under 'skip', thrown under 'fail'. */
  async getExact(index: number, seed: number, policy: BadVideoPolicy = this.policy): Promise<ExactSample> {
    this.checkIndex(index);
    checkBadVideoPolicy(policy, 'VideoClipDataset.getExact');
    const path = this.items[index].path;
    const known = this.known.reason(path);
    if (known !== undefined) {
      if (policy === 'fail') throw new VideoDecodeError(path, known);
      return { sample: null, skipped: { path, reason: known } };
    }
    const a = await this.attempt(index, seed, policy);
    return a.sample ? { sample: a.sample } : { sample: null, skipped: { path, reason: a.report.reason } };
  }

  private async load(
    item: VideoItem,
    rng: Rng,
  ): Promise<{ frames: Uint8Array; shape: number[]; meta: ClipMeta[]; teacherFrames?: Uint8Array; teacherShape?: number[] }> {
    const info = await this.probe(item.path);
    if (info.frameCount < this.minFrames) throw new VideoTooShortError(item.path, info.frameCount, this.minFrames);
    const t = this.transform;
    const nf = t.numFrames ?? 16,
      stride = t.stride ?? 4,
      size = t.size ?? 224;
    const common = { info, outW: size, outH: size, threads: this.opts.decodeThreads, timeoutMs: this.opts.timeoutMs };
    const { width: W, height: H, frameCount: n } = info;
    switch (t.kind) {
      case 'pretrain': {
        const idx = pretrainIndices(n, rng, nf, stride);
        const crop = multiScaleCrop(W, H, rng, size);
        const ts = t.imageTeacherSize;
        if (ts !== undefined && ts !== size) {
          if (!Number.isInteger(ts) || ts <= 0) throw new ValueError(`imageTeacherSize must be a positive integer, got ${ts}`);
          // Both inputs from the unscaled crop, each resized once (bilinear), as the reference
          // resizes the one crop to the two sizes.
          const d = await decodeFrames(item.path, idx, { ...common, crop, outW: crop.w, outH: crop.h });
          const whole = { x: 0, y: 0, w: crop.w, h: crop.h };
          const frames = resizeCropArray(d.data, d.shape, whole, size, size);
          const teacherFrames = resizeCropArray(d.data, d.shape, whole, ts, ts);
          return {
            frames,
            shape: [1, nf, size, size, 3],
            teacherFrames,
            teacherShape: [1, nf, ts, ts, 3],
            meta: [{ frameIndices: [...idx], crop }],
          };
        }
        const d = await decodeFrames(item.path, idx, { ...common, crop });
        return { frames: d.data, shape: [1, ...d.shape], meta: [{ frameIndices: [...idx], crop }] };
      }
      case 'finetune': {
        const parts: Uint8Array[] = [];
        const meta: ClipMeta[] = [];
        const R = t.numSample ?? 2;
        for (let r = 0; r < R; r++) {
          const sub = rng.fork(r);
          const idx = t.sampling === 'tsn' ? tsnTrainIndices(n, sub, nf) : denseTrainIndices(n, sub, nf, stride);
          const crop = randomResizedCrop(W, H, sub, t.scale, t.ratio);
          const flip = flipFlag(sub, t.flip ?? (t.sampling === 'tsn' ? 0 : 0.5));
          const ra = t.randAugment === false ? undefined : randAugment(sub);
          const erasing = randomErasing(size, size, sub, { p: t.erasing ?? 0.25 });
          const d = await decodeFrames(item.path, idx, { ...common, crop, flip });
          // RandAugment after crop and flip, on this thread (a loader worker): the same ops on
          // every frame. Erasing needs the normalised clip, so it waits for finetuneClips.
          if (ra?.length) randAugmentArray(d.data, d.shape, ra, { interpolation: t.interpolation });
          parts.push(d.data);
          meta.push({ frameIndices: [...idx], crop, flip, randAugment: ra, randAugmentApplied: ra !== undefined, erasing });
        }
        return { frames: concat(parts), shape: [R, nf, size, size, 3], meta };
      }
      case 'val': {
        const idx = t.sampling === 'tsn' ? tsnTestIndices(n, 1, nf, true)[0] : denseCentreIndices(n, nf, stride);
        const { resized, crop } = centreCrop(W, H, size);
        const d = await decodeFrames(item.path, idx, { ...common, resize: resized, crop });
        return { frames: d.data, shape: [1, ...d.shape], meta: [{ frameIndices: [...idx], crop }] };
      }
      case 'test': {
        const clips = t.sampling === 'tsn' ? tsnTestIndices(n, t.numClips ?? 2, nf) : denseTestIndices(n, t.numClips ?? 5, nf, stride);
        const { resized, crops } = testCrops(W, H, size, t.numCrops ?? 3);
        const parts: Uint8Array[] = [];
        const meta: ClipMeta[] = [];
        for (const idx of clips) {
          const d = await decodeFrames(item.path, idx, { ...common, resize: resized, crop: crops });
          parts.push(d.data);
          for (const crop of crops) meta.push({ frameIndices: [...idx], crop });
        }
        return { frames: concat(parts), shape: [clips.length * crops.length, nf, size, size, 3], meta };
      }
      default:
        throw new ValueError(`unknown clip transform '${(t as { kind: string }).kind}'`);
    }
  }
}
