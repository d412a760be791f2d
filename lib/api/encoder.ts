// The embedding API: one call to load an encoder from a checkpoint alone, one to get the features
// of a video. The checkpoint's model card (or, for reference files, its key names) decides the
// architecture; options only fill what the file leaves open, and contradicting it is an error.
import { readSafetensorsHeader } from '../io/safetensors.js';
import { loadAllWeights } from '../io/checkpoint.js';
import {
  CheckpointChoiceError,
  describeCheckpoint,
  resolveEncoder,
  type DescribedCheckpoint,
  type ModelCard,
  type PosEmbed,
} from '../nn/model-card.js';
import { VisionTransformer } from '../nn/encoder.js';
import type { VitConfig } from '../nn/config.js';
import { meanTokens } from '../nn/classifier.js';
import { Tensor, normalizeDevice, getDefaultDevice, setDefaultDevice, type Device } from '../tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import { addInPlace, scaleInPlace } from '../ops/elementwise.js';
import { framesToClip, resizeCrop } from '../ops/frames.js';
import { probeVideo, decodeFrames } from '../data/video.js';
import { denseTestIndices } from '../data/sampling.js';
import { testCrops } from '../data/augment.js';
import type { CropBox } from '../ops/frames.js';

/** Which activations `embed` returns: after the encoder's final norm, or the last block's output. */
export type EmbedLayer = 'norm' | 'prenorm';
/** Every EmbedLayer, for validating user input. */
export const EMBED_LAYERS: readonly EmbedLayer[] = ['norm', 'prenorm'];

/** Options of loadEncoder: only what a checkpoint may leave open, and where to run. */
export interface LoadEncoderOptions {
  /** 'cpu' (default: the default device) or 'cuda:N'. */
  device?: string;
  /** Frames per clip. Only where the checkpoint does not say (reference files); 16 by default there. */
  frames?: number;
  /** Clip side in pixels. Only where the checkpoint does not say; 224 by default there. */
  size?: number;
  /** Positional table; required only for a reference fine-tuned classifier, whose keys cannot tell. */
  posEmbed?: PosEmbed;
}

/** RGB frames already in memory: u8 [T, H, W, 3], any H and W (resized and cropped like a video). */
export interface Frames {
  data: Uint8Array;
  shape: readonly [number, number, number, number];
}

/** A video decoded into an encoder's views (decodeVideo): u8 [views, T, size, size, 3]. */
export interface DecodedVideo {
  kind: 'views';
  data: Uint8Array;
  views: number;
  frames: number;
  size: number;
}

/** Options of Encoder.embed / embedMany: which layer, how many views, cancellation, progress. */
export interface EmbedOptions {
  /** 'norm' (after the final norm; the default where the checkpoint has one) or 'prenorm' (last block). */
  layer?: EmbedLayer;
  /** Temporal clips of a video file, evenly spaced (SPEC §4.6); default 1 (the centre clip). */
  clips?: number;
  /** Spatial crops along the long side; default 1 (the centre crop). */
  crops?: number;
  /** Frame stride of a clip in a video file (default 4, as the reference's dense sampling). */
  stride?: number;
  signal?: AbortSignal;
  /** Called after each view is computed. */
  onProgress?: (done: number, total: number) => void;
}

/** The features of one input: every view's tokens and their overall mean. */
export interface Embedding {
  /** Token features of every view, row-major [views, tokens, dim]. */
  tokens: Float32Array;
  /** Mean over views and tokens, [dim]. */
  pooled: Float32Array;
  /** [views, tokens, dim] (an image encoder gives one view per frame pair of each clip). */
  shape: [number, number, number];
}

/** A loaded encoder. Dispose it (or `using`) to free its weights. */
export class Encoder implements Disposable {
  private disposed = false;

  constructor(
    /** What the checkpoint says it is (source: its metadata, or its key names). */
    readonly described: DescribedCheckpoint,
    /** The configuration built (the card's, completed by the load options). */
    readonly config: VitConfig,
    /** Frames a clip has on input (an image encoder reads them in pairs). */
    readonly clipFrames: number,
    readonly device: Device,
    private readonly model: VisionTransformer,
  ) {}

  get card(): ModelCard {
    return this.described.card;
  }

  /** The VisionTransformer itself (eval mode, packed weights), for callers that run it directly. */
  get module(): VisionTransformer {
    this.live();
    return this.model;
  }

  /** Features of one video file or one set of frames. */
  async embed(input: string | Frames | DecodedVideo, opts: EmbedOptions = {}): Promise<Embedding> {
    return this.compute(await this.prepare(input, opts), opts);
  }

  /**
   * Features of many inputs in order, decoding the next input while the current one computes.
   * Yields `{ input, embedding }`, or `{ input, error }` for an input that could not be read
   * (the iteration goes on; a compute failure or an abort ends it).
   */
  async *embedMany(
    inputs: Iterable<string | Frames>,
    opts: EmbedOptions = {},
  ): AsyncGenerator<{ input: string | Frames; embedding?: Embedding; error?: Error }> {
    const list = [...inputs];
    const settle = (i: number) =>
      this.prepare(list[i], opts).then(
        (u) => ({ u }),
        (error: Error) => ({ error }),
      );
    let next = list.length ? settle(0) : null;
    for (let i = 0; i < list.length; i++) {
      const cur = await next!;
      next = i + 1 < list.length ? settle(i + 1) : null;
      if ('error' in cur) {
        if ((cur.error as Error).name === 'AbortError') throw cur.error;
        yield { input: list[i], error: cur.error };
        continue;
      }
      yield { input: list[i], embedding: await this.compute(cur.u, opts) };
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private live(): void {
    if (this.disposed) throw new ValueError('this Encoder was disposed');
  }

  /** Decoded u8 views [views, T, size, size, 3], on the host. */
  private async prepare(input: string | Frames | DecodedVideo, opts: EmbedOptions): Promise<Uint8Array> {
    this.live();
    opts.signal?.throwIfAborted();
    const size = this.config.size,
      T = this.clipFrames;
    const clips = positiveInt(opts.clips ?? 1, 'clips'),
      crops = positiveInt(opts.crops ?? 1, 'crops');
    if (typeof input === 'string') return (await decodeVideo(input, { ...opts, frames: T, size })).data;
    if ('kind' in input) {
      if (input.frames !== T || input.size !== size)
        throw new ShapeError(`embed: decoded views are ${input.frames} frames at ${input.size}², this encoder takes ${T} at ${size}²`, {
          op: 'embed',
        });
      return input.data;
    }
    const [t, h, w, ch] = input.shape;
    if (input.shape.length !== 4 || ch !== 3 || t !== T)
      throw new ShapeError(`embed: frames must be u8 [${T}, H, W, 3] for this encoder (${T} frames a clip), got [${input.shape}]`, {
        op: 'embed',
      });
    if (input.data.length !== t * h * w * 3)
      throw new ShapeError(`embed: frames hold ${input.data.length} bytes, shape [${input.shape}] needs ${t * h * w * 3}`, { op: 'embed' });
    if (clips !== 1) throw new ValueError(`embed: clips ${clips} needs a video file; frames are one clip`);
    const { crops: boxes } = testCrops(w, h, size, crops);
    const scaleBack = Math.min(w, h) / size; // boxes are in the short-side-resized frame
    using src = Tensor.fromArray(input.data, [t, h, w, 3]);
    const out = new Uint8Array(crops * T * size * size * 3);
    for (let k = 0; k < crops; k++) {
      const b = boxes[k];
      const box: CropBox = {
        x: Math.trunc(b.x * scaleBack),
        y: Math.trunc(b.y * scaleBack),
        w: Math.min(w, Math.round(b.w * scaleBack)),
        h: Math.min(h, Math.round(b.h * scaleBack)),
      };
      using v = resizeCrop(src, box, size, size);
      out.set(await v.toArray(), k * T * size * size * 3);
    }
    return out;
  }

  private async compute(u8: Uint8Array, opts: EmbedOptions): Promise<Embedding> {
    const size = this.config.size,
      T = this.clipFrames;
    const viewBytes = T * size * size * 3;
    return this.forwardViews(
      u8.length / viewBytes,
      (v) => {
        using frames = Tensor.fromArray(u8.subarray(v * viewBytes, (v + 1) * viewBytes), [1, T, size, size, 3], { device: this.device });
        return framesToClip(frames, this.card.mean, this.card.std);
      },
      opts,
    );
  }

  /**
   * Features of one clip already normalised as the model expects (f32 [3, T, S, S] or
   * [1, 3, T, S, S], the card's mean/std applied): for callers with their own preprocessing.
   */
  async embedClip(clip: Tensor, opts: Omit<EmbedOptions, 'clips' | 'crops' | 'stride'> = {}): Promise<Embedding> {
    this.live();
    const want = [3, this.clipFrames, this.config.size, this.config.size];
    const got = clip.ndim === 5 && clip.shape[0] === 1 ? clip.shape.slice(1) : clip.shape;
    if (clip.dtype !== 'f32' || got.length !== 4 || got.some((d, i) => d !== want[i]))
      throw new ShapeError(`embedClip: the clip must be f32 [${want}] for this encoder, got ${clip.dtype} [${clip.shape}]`, {
        op: 'embedClip',
      });
    // A view of the caller's tensor (reshape shares storage); a copy only across devices.
    return this.forwardViews(
      1,
      () => {
        if (clip.device === this.device) return clip.reshape([1, ...want]);
        using moved = clip.to(this.device);
        return moved.reshape([1, ...want]);
      },
      opts,
    );
  }

  /** Runs the encoder on `views` clips made one at a time; tokens read back, pooled averaged natively. */
  private async forwardViews(views: number, clipOf: (v: number) => Tensor, opts: EmbedOptions): Promise<Embedding> {
    this.live();
    const layer = opts.layer ?? (this.model.norm ? 'norm' : 'prenorm');
    if (!EMBED_LAYERS.includes(layer)) throw new ValueError(`embed: layer '${layer}' is not one of ${EMBED_LAYERS.join(', ')}`);
    if (layer === 'norm' && !this.model.norm)
      throw new ValueError(
        `embed: layer 'norm' needs the encoder's final norm, which this checkpoint (${this.card.kind}) does not hold; use 'prenorm'`,
      );
    const parts: Float32Array[] = [];
    let pooledSum: Tensor | null = null;
    let rowsPerView = 0,
      tokens = 0,
      dim = 0;
    try {
      for (let v = 0; v < views; v++) {
        opts.signal?.throwIfAborted();
        using clip = clipOf(v);
        const e = onDevice(this.device, () => this.model.forward(clip));
        const feats = layer === 'norm' ? e.out! : e.prenorm;
        if (layer === 'norm') e.prenorm.dispose();
        [rowsPerView, tokens, dim] = feats.shape;
        using flat = feats.reshape([1, rowsPerView * tokens, dim]);
        const p = meanTokens(flat);
        if (pooledSum) {
          addInPlace(pooledSum, p);
          p.dispose();
        } else pooledSum = p;
        parts.push((await feats.toArray()) as Float32Array);
        feats.dispose();
        opts.onProgress?.(v + 1, views);
      }
      scaleInPlace(pooledSum!, 1 / views);
      const pooled = (await pooledSum!.toArray()) as Float32Array;
      const all = new Float32Array(views * rowsPerView * tokens * dim);
      parts.forEach((p, i) => all.set(p, i * p.length));
      return { tokens: all, pooled, shape: [views * rowsPerView, tokens, dim] };
    } finally {
      pooledSum?.dispose();
    }
  }
}

/**
 * Runs synchronous model code with `device` as the default device (modules create their tensors
 * there); synchronous, so no other async task can see the switch.
 */
function onDevice<T>(device: Device, fn: () => T): T {
  const prev = getDefaultDevice();
  if (prev === device) return fn();
  setDefaultDevice(device);
  try {
    return fn();
  } finally {
    setDefaultDevice(prev);
  }
}

function positiveInt(x: number, name: string): number {
  if (!Number.isInteger(x) || x < 1) throw new ValueError(`embed: ${name} must be a positive integer (got ${x})`);
  return x;
}

/**
 * Decodes a video into the views an encoder of `frames` × `size`² takes (clips evenly spaced,
 * crops along the long side, SPEC §4.6), without the encoder: start it while loadEncoder runs
 * (planEncoder gives frames and size) and pass the result to Encoder.embed.
 */
export async function decodeVideo(
  path: string,
  o: { frames: number; size: number; clips?: number; crops?: number; stride?: number; signal?: AbortSignal },
): Promise<DecodedVideo> {
  const T = positiveInt(o.frames, 'frames'),
    size = positiveInt(o.size, 'size');
  const clips = positiveInt(o.clips ?? 1, 'clips'),
    crops = positiveInt(o.crops ?? 1, 'crops');
  o.signal?.throwIfAborted();
  const info = await probeVideo(path);
  o.signal?.throwIfAborted();
  const { resized, crops: boxes } = testCrops(info.width, info.height, size, crops);
  const out = new Uint8Array(clips * crops * T * size * size * 3);
  const perClip = crops * T * size * size * 3;
  const idx = denseTestIndices(info.frameCount, clips, T, positiveInt(o.stride ?? 4, 'stride'));
  for (let c = 0; c < clips; c++) {
    // One crop is [T, H, W, 3]; several are [crops, T, H, W, 3]: the same bytes either way.
    const dec = await decodeFrames(path, idx[c], { info, resize: resized, crop: crops === 1 ? boxes[0] : boxes, outW: size, outH: size });
    out.set(dec.data, c * perClip);
    o.signal?.throwIfAborted();
  }
  return { kind: 'views', data: out, views: clips * crops, frames: T, size };
}

/** What loadEncoder will build from a checkpoint, read from its header alone (no weights). */
export interface EncoderPlan {
  described: DescribedCheckpoint;
  config: VitConfig;
  /** Frames a clip has on input (an image encoder reads them in pairs). */
  clipFrames: number;
}

/** The encoder a checkpoint describes, completed by the options; errors as loadEncoder's. */
export async function planEncoder(path: string, opts: LoadEncoderOptions = {}): Promise<EncoderPlan> {
  const described = describeCheckpoint(await readSafetensorsHeader(path), path);
  const image = described.card.encoder.tubelet === 1;
  const config = resolveEncoder(described, { size: opts.size, posEmbed: opts.posEmbed, ...(image ? {} : { frames: opts.frames }) }, path);
  const clipFrames = image ? (opts.frames ?? 16) : config.frames;
  if (image && !(Number.isInteger(clipFrames) && clipFrames > 0 && clipFrames % 2 === 0))
    throw new CheckpointChoiceError(
      `${path}: an image encoder reads clips in frame pairs; frames must be a positive even integer (got ${clipFrames})`,
    );
  return { described, config, clipFrames };
}

/**
 * Builds the encoder a checkpoint describes and loads its weights: an MVD student, a VideoMAE or
 * MAE encoder (mvd's files or the reference repositories'), or the backbone of a fine-tuned
 * classifier. Every encoder weight must be present, of the right shape and finite.
 */
export async function loadEncoder(path: string, opts: LoadEncoderOptions = {}): Promise<Encoder> {
  const device = normalizeDevice(opts.device);
  const { described, config, clipFrames } = await planEncoder(path, opts);
  const image = config.tubelet === 1;
  const model = onDevice(
    device,
    () => new VisionTransformer(config, { finalNorm: described.card.finalNorm, frameStride: image ? 2 : undefined, init: 'none' }),
  );
  await loadAllWeights(path, model);
  model.eval();
  model.packWeights();
  return new Encoder(described, config, clipFrames, device, model);
}
