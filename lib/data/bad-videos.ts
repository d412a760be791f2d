// The one bad-video policy shared by training, fine-tuning, validation, probe and evaluation.
// 'skip': a video that cannot be used is left out and reported once; only training batches,
// which must stay full, take a replacement index, drawn from (seed, index) alone so a resumed run
// sees the same batches. 'fail': the first bad video is a VideoDecodeError naming file and reason.
import { ValueError } from '../errors.js';
import { Rng } from './rng.js';
import type { BadVideoPolicy, ClipSample, ClipSource, ExactSample, SkippedVideo } from './types.js';

/** The valid onBadVideo values, for validation and CLI choices (see BadVideoPolicy). */
export const BAD_VIDEO_POLICIES: readonly BadVideoPolicy[] = ['skip', 'fail'];

/** Every video of a list was bad under 'skip': there is nothing to train or score on. */
export class NoUsableVideosError extends ValueError {
  constructor(
    readonly what: string,
    readonly total: number,
    readonly skippedVideos: readonly SkippedVideo[],
  ) {
    const first = skippedVideos[0];
    super(
      `${what}: all ${total} videos are unreadable, expected at least one usable video` +
        (first ? ` (first: ${first.path}: ${first.reason})` : ''),
    );
  }
}

/** Validates an onBadVideo value from user input; a ValueError prefixed with `where` otherwise. */
export function checkBadVideoPolicy(policy: unknown, where: string): BadVideoPolicy {
  if (!BAD_VIDEO_POLICIES.includes(policy as BadVideoPolicy))
    throw new ValueError(`${where}: onBadVideo must be 'skip' or 'fail', got ${JSON.stringify(policy)}`);
  return policy as BadVideoPolicy;
}

/**
 * Known-bad files, each kept with its first reason. A file is recorded once, so it is reported
 * once and never probed or decoded again by the dataset that met it.
 */
export class BadVideoLog {
  private readonly byPath = new Map<string, string>();

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  reason(path: string): string | undefined {
    return this.byPath.get(path);
  }

  /** True when `path` was not known before (the caller reports it then, and only then). */
  add(path: string, reason: string): boolean {
    if (this.byPath.has(path)) return false;
    this.byPath.set(path, reason);
    return true;
  }

  get size(): number {
    return this.byPath.size;
  }

  /** In the order met. */
  list(): SkippedVideo[] {
    return [...this.byPath].map(([path, reason]) => ({ path, reason }));
  }
}

/**
 * The indices a training sample tries, in order: `index` itself, then `draws` uniform draws from
 * Rng(seed, index), then every index once from the last draw on. Only (seed, index) decide the
 * sequence, so which clip replaces a bad one does not depend on timing or on which bad files
 * were already known; the final sweep makes the search end at a usable video whenever one exists.
 */
export function* replacementOrder(index: number, seed: number, length: number, draws: number): Generator<number> {
  yield index;
  const rng = new Rng(seed, index, 0xbad);
  let last = index;
  for (let k = 0; k < draws; k++) {
    last = rng.int(length);
    yield last;
  }
  for (let k = 1; k <= length; k++) yield (last + k) % length;
}

/**
 * Item `index` exactly, for scoring (no replacement). Sources without `getExact` hold no files
 * that can be bad (the synthetic sets); one that replaces an item anyway is an error.
 */
export async function exactSample(source: ClipSource, index: number, seed: number, policy?: BadVideoPolicy): Promise<ExactSample> {
  if (source.getExact) return source.getExact(index, seed, policy);
  const sample = await source.get(index, seed);
  if (sample.index !== index)
    throw new ValueError(`exactSample: asked for item ${index}, the source gave item ${sample.index} and has no getExact to score exactly`);
  return { sample };
}

/** Items [start, end) loaded exactly, in order: the usable samples and the skipped videos. */
export async function exactRange(
  source: ClipSource,
  start: number,
  end: number,
  seed: number,
  policy?: BadVideoPolicy,
): Promise<{ samples: ClipSample[]; skipped: SkippedVideo[] }> {
  const samples: ClipSample[] = [],
    skipped: SkippedVideo[] = [];
  for (let i = start; i < end; i++) {
    const r = await exactSample(source, i, seed, policy);
    if (r.sample) samples.push(r.sample);
    else skipped.push(r.skipped);
  }
  return { samples, skipped };
}

/** The bad videos a source has skipped so far (none for sources that hold no files). */
export function skippedVideosOf(source: ClipSource): SkippedVideo[] {
  return source.skippedVideos ? [...source.skippedVideos] : [];
}
