// `mvd extract`: encoder features of a clip, a video, or a list of videos, through the embedding API
// (lib/api/encoder.ts): the checkpoint says what encoder it holds, flags only fill what it leaves
// open, and a flag that contradicts it is a usage error naming both values.
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { Tensor } from '../../tensor.js';
import { loadSafetensors, saveSafetensors } from '../../io/safetensors.js';
import { decodeVideo, type DecodedVideo, type Embedding, type EmbedLayer } from '../../api/encoder.js';
import { VideoDecodeError } from '../../data/video.js';
import { UsageError, type FlagCommand } from '../command.js';
import { checkInput, prepareOutput } from '../paths.js';
import { JSON_FLAG, reportSkipped } from './common.js';
import { checkpointChoiceFlags, openEncoder, planFromFlags } from './encoder.js';

async function readClip(path: string): Promise<Tensor> {
  const { tensors } = await loadSafetensors(path);
  const t = tensors.get('clip') ?? (tensors.size === 1 ? [...tensors.values()][0] : undefined);
  if (!t)
    throw new UsageError(
      `--input ${path}: expected a tensor named "clip" (or exactly one tensor), found ${[...tensors.keys()].join(', ') || 'none'}`,
    );
  if (t.ndim !== 4 || t.shape[0] !== 3 || t.dtype !== 'f32')
    throw new UsageError(`--input ${path}: the clip must be float32 [3,T,H,W], got ${t.dtype} [${t.shape}]`);
  return t;
}

/** Video paths of a list file: one a line, or the VideoMAE/MVD `path label` format; relative to --root or the list's folder. */
async function readList(path: string, root: string | undefined): Promise<string[]> {
  const base = root ?? dirname(resolve(path));
  const lines = (await readFile(path, 'utf8'))
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (!lines.length) throw new UsageError(`--list ${path} names no videos`);
  return lines.map((l) => resolve(base, l.split(/\s+/)[0]));
}

/** Output names in DIR: the video's base name, with a counter where two videos share one. */
function outputNames(videos: readonly string[], dir: string): string[] {
  const seen = new Map<string, number>();
  return videos.map((v) => {
    const stem = basename(v, extname(v));
    const n = seen.get(stem) ?? 0;
    seen.set(stem, n + 1);
    return join(dir, `${n ? `${stem}-${n}` : stem}.safetensors`);
  });
}

async function writeFeatures(out: string, r: Embedding, meta: Record<string, string>): Promise<void> {
  const [views, tokens, dim] = r.shape;
  // One view keeps the long-standing [N, D] layout; several are [views, N, D].
  using features = Tensor.fromArray(r.tokens, views === 1 ? [tokens, dim] : [views, tokens, dim]);
  using pooled = Tensor.fromArray(r.pooled, [dim]);
  await saveSafetensors(out, { features, pooled }, { ...meta, views: String(views) });
}

export const extractCommand: FlagCommand = {
  name: 'extract',
  summary: 'encoder features of a clip, a video or a list of videos, to safetensors',
  usage:
    'mvd extract --checkpoint W.safetensors (--video FILE | --input CLIP.safetensors) --out FEATS.safetensors | --list VIDEOS.txt --out DIR [--clips N --crops N] [--layer norm|prenorm]',
  flags: {
    checkpoint: {
      type: 'in-file',
      what: 'checkpoint',
      required: true,
      help: 'weights: an mvd checkpoint (it describes its model) or a reference MVD/VideoMAE/MAE/fine-tuned file (recognised by its keys)',
    },
    ...checkpointChoiceFlags(1),
    input: { type: 'in-file', what: 'clip file', help: 'float32 [3,T,H,W] already normalised, key "clip" (or the only tensor)' },
    video: {
      type: 'in-file',
      what: 'video',
      help: 'a video file: clips of T frames at stride 4, short side to size, crops along the long side',
    },
    list: {
      type: 'in-file',
      what: 'list file',
      help: "many videos after one load: one path a line (or `path label`); relative to --root or the list's folder",
    },
    root: { type: 'in-dir', what: 'video folder', help: 'folder the --list paths are relative to' },
    out: {
      type: 'text',
      required: true,
      help: 'output safetensors (--video/--input: keys "features" [N,D] or [views,N,D] and "pooled" [D]); with --list, a folder: one file per video',
    },
    layer: {
      type: 'word',
      words: ['norm', 'prenorm'],
      help: 'norm (after the final norm; a fine-tuned classifier has none) or prenorm (last block)',
      defaultNote: 'norm where the checkpoint has it, else prenorm',
    },
    clips: { type: 'int', min: 1, max: 64, help: 'temporal clips per video, evenly spaced (SPEC §4.6)', default: 1 },
    crops: { type: 'int', min: 1, max: 16, help: 'spatial crops per clip along the long side', default: 1 },
    'on-bad-video': {
      type: 'word',
      words: ['skip', 'fail'],
      help: 'with --list: an unreadable video is left out and counted (skip) or stops the run (fail)',
      default: 'skip',
    },
    json: JSON_FLAG,
  },
  check(f) {
    const given = ['input', 'video', 'list'].filter((k) => f.given(k));
    if (given.length !== 1) throw new UsageError('give exactly one of --input CLIP.safetensors, --video FILE or --list VIDEOS.txt');
    if (f.given('input') && (f.given('clips') || f.given('crops')))
      throw new UsageError('--clips and --crops apply to videos: --input is one clip');
    if (f.given('root') && !f.given('list')) throw new UsageError('--root applies to --list only');
    if (f.given('on-bad-video') && !f.given('list')) throw new UsageError('--on-bad-video applies to --list only');
    const out = f.str('out');
    prepareOutput('out', { type: f.given('list') ? 'out-dir' : 'out-file', help: '' }, out);
  },
  async run(f) {
    const ck = f.str('checkpoint'),
      out = f.str('out');
    const layer = f.given('layer') ? f.word<EmbedLayer>('layer') : undefined;
    const views = { clips: f.num('clips'), crops: f.num('crops') };
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    // A video decodes (ffmpeg, other processes) while the weights load: the header says its size.
    let decoding: Promise<DecodedVideo> | undefined;
    if (f.given('video')) {
      const plan = await planFromFlags(f);
      decoding = decodeVideo(f.str('video'), { frames: plan.clipFrames, size: plan.config.size, ...views, signal: ac.signal });
      decoding.catch(() => {}); // awaited below; an early failure must not be an unhandled rejection
    }
    using enc = await openEncoder(f);
    const meta = { checkpoint: ck, layer: layer ?? (enc.card.finalNorm ? 'norm' : 'prenorm') };
    try {
      if (!f.given('list')) {
        let r: Embedding;
        if (f.given('input')) {
          using clip = await readClip(f.str('input'));
          r = await enc.embedClip(clip, { layer, signal: ac.signal });
        } else r = await enc.embed(await decoding!, { layer, signal: ac.signal });
        await writeFeatures(out, r, meta);
        const [v, n, d] = r.shape;
        console.log(
          f.bool('json')
            ? JSON.stringify({ out, views: v, tokens: n, dim: d })
            : `wrote ${out}: features [${v > 1 ? `${v},` : ''}${n},${d}] and pooled [${d}]`,
        );
        return 0;
      }
      const videos = await readList(f.str('list'), f.optStr('root'));
      videos.forEach(checkListed);
      const names = outputNames(videos, out);
      const skipped: { path: string; reason: string }[] = [];
      let i = 0,
        written = 0;
      for await (const r of enc.embedMany(videos, { ...views, layer, signal: ac.signal })) {
        const video = videos[i],
          target = names[i++];
        if (r.error) {
          if (!(r.error instanceof VideoDecodeError) || f.word('on-bad-video') === 'fail') throw r.error;
          skipped.push({ path: video, reason: r.error.message });
          continue;
        }
        await writeFeatures(target, r.embedding!, { ...meta, video });
        written++;
      }
      reportSkipped({ skippedVideos: skipped });
      if (!written) throw new VideoDecodeError(f.str('list'), `none of its ${videos.length} videos could be read`);
      console.log(
        f.bool('json')
          ? JSON.stringify({ out, written, skipped: skipped.length })
          : `wrote ${written} feature files to ${out}${skipped.length ? ` (${skipped.length} videos skipped)` : ''}`,
      );
      return 0;
    } finally {
      process.off('SIGINT', stop).off('SIGTERM', stop);
    }
  },
};

/** A listed path that is not a regular file is a usage error before any work (a FIFO would hang). */
function checkListed(path: string): void {
  try {
    checkInput('list', { type: 'in-file', what: 'listed video', help: '' }, path);
  } catch (e) {
    // A missing video is the bad-video policy's business (skip or fail), not a usage error.
    if (e instanceof UsageError) throw e;
  }
}
