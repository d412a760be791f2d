// Shapes shared by datasets, the loader and its workers. Everything here is plain data so it
// crosses worker boundaries by structured clone (frames by transfer).
import type { CropBox, ErasingBox, RandAugmentOp } from './augment.js';

/** A bad video met while loading, with why (VideoDecodeError's reason); reported once per file. */
export interface BadVideoReport {
  /** Dataset index of the bad video. */
  index: number;
  file: string;
  reason: string;
}

/**
 * What to do with a video that cannot be used (missing, empty, not a video, corrupt, truncated,
 * shorter than the clip): 'skip' leaves it out and reports it once; 'fail' throws a
 * VideoDecodeError naming the file and the reason.
 */
export type BadVideoPolicy = 'skip' | 'fail';

/** A video left out under 'skip', as results list them. */
export interface SkippedVideo {
  path: string;
  reason: string;
}

/** One item loaded exactly (no replacement): its sample, or why it was skipped. */
export type ExactSample = { sample: ClipSample; skipped?: undefined } | { sample: null; skipped: SkippedVideo };

/**
 * The random choices behind one view of a sample, kept so that work done later (erasing, a pending
 * RandAugment) and debugging see exactly what was drawn. Crop and erasing boxes are in pixels.
 */
export interface ClipMeta {
  frameIndices: number[];
  crop?: CropBox;
  flip?: boolean;
  /** Chosen RandAugment ops. */
  randAugment?: RandAugmentOp[];
  /** True when the dataset already applied `randAugment` to the frames (video files do, in the worker). */
  randAugmentApplied?: boolean;
  /** Random-erasing box, in output pixels; applied on the normalised clip (finetuneClips / applyErasing). */
  erasing?: ErasingBox | null;
}

/** One dataset item as loaded: u8 frames plus labels, the index actually used and the bad videos met. */
export interface ClipSample {
  /** u8 rgb24 frames [V, T, H, W, 3]: V = 1, or repeated-augmentation clips, or test views. */
  frames: Uint8Array;
  shape: number[];
  label: number;
  /** All labels of a multi-label item (the synthetic set has appearance and motion). */
  labels?: Record<string, number>;
  /** The dataset index actually loaded (differs from `requested` when a training sample replaced a bad video). */
  index: number;
  requested: number;
  /** Bad videos first met (and skipped) while producing this sample; a file appears in one sample only. */
  bad: BadVideoReport[];
  /** Per-view augmentation choices. */
  meta?: ClipMeta[];
  /**
   * The image teacher's input when its size differs from the student's (imageTeacherSize): u8
   * [V, T, S, S, 3], the same frames and crop resized to S.
   */
  teacherFrames?: Uint8Array;
  teacherShape?: number[];
}

/** Anything the loader can draw clips from. `seed` drives all random choices of one sample. */
export interface ClipSource {
  readonly length: number;
  /** A training sample: under 'skip' a bad video is replaced by another index (sample.index says which). */
  get(index: number, seed: number): Promise<ClipSample>;
  /**
   * Exactly item `index`, for scoring: a bad video is skipped (never replaced) or, under 'fail',
   * thrown. `policy` overrides the source's own for this call. Absent on sources without files.
   */
  getExact?(index: number, seed: number, policy?: BadVideoPolicy): Promise<ExactSample>;
  /** Every bad video met so far, once each, in the order met. Absent on sources without files. */
  readonly skippedVideos?: readonly SkippedVideo[];
  /** The plain-data description loader workers rebuild this source from; absent: in-thread only. */
  datasetSpec?(): DatasetSpec;
  /** The same source also giving the image teacher's input at `size` (ClipSample.teacherFrames). */
  withImageTeacherSize?(size: number): ClipSource;
}

/** How a clip is cut out of a video (SPEC §3.1, §4.4–4.6). */
export type ClipTransform =
  | {
      /** MVD/VideoMAE pretraining: 16 frames at stride 4, multi-scale corner crop, bilinear to size. */
      kind: 'pretrain';
      numFrames?: number;
      stride?: number;
      size?: number;
      /**
       * Also resize the same crop to this size for the image teacher (SPEC §3.1: 196 for the
       * ViT-H/14 MAE teacher when the student sees 224); both come from the unscaled crop.
       */
      imageTeacherSize?: number;
    }
  | {
      /** Fine-tuning train: dense (Kinetics) or TSN (SSv2) sampling, random-resized crop, flip. */
      kind: 'finetune';
      sampling: 'dense' | 'tsn';
      numFrames?: number;
      stride?: number;
      size?: number;
      /** Flip probability (0.5 on Kinetics, 0 on SSv2). */
      flip?: number;
      scale?: [number, number];
      ratio?: [number, number];
      /** RandAugment m7-n4-mstd0.5-inc1: drawn into meta and applied to the frames (default true). */
      randAugment?: boolean;
      /** Resampling of RandAugment's geometric ops (default 'bicubic', SPEC §4.4). */
      interpolation?: 'nearest' | 'bilinear' | 'bicubic';
      /** Random erasing probability (default 0.25); the box goes into meta. */
      erasing?: number;
      /** Repeated augmentation: clips per video (default 2 in MVD fine-tuning). */
      numSample?: number;
    }
  | {
      /** Validation during training: the centre clip, short side resized, centre crop. */
      kind: 'val';
      sampling: 'dense' | 'tsn';
      numFrames?: number;
      stride?: number;
      size?: number;
    }
  | {
      /** Final test: numClips temporal × numCrops spatial views (K400 5×3, SSv2 2×3). */
      kind: 'test';
      sampling: 'dense' | 'tsn';
      numClips?: number;
      numCrops?: number;
      numFrames?: number;
      stride?: number;
      size?: number;
    };

/** One video of a dataset: its file path and class index (0-based). */
export interface VideoItem {
  path: string;
  label: number;
}

/** A dataset described as plain data, so loader workers can rebuild it. */
export type DatasetSpec =
  | {
      kind: 'videos';
      items: VideoItem[];
      transform: ClipTransform;
      onBadVideo?: BadVideoPolicy;
      /** Random replacement draws for a bad training video before sweeping the list (default 20). */
      maxSkips?: number;
      /** Fewer frames than this make a video bad (default: the transform's numFrames). */
      minFrames?: number;
      /** ffmpeg decoder threads per clip (loader workers default to 1). */
      decodeThreads?: number;
      timeoutMs?: number;
    }
  | {
      kind: 'synthetic';
      seed?: number;
      count: number;
      frames?: number;
      size?: number;
      label?: 'appearance' | 'motion';
      /** Also give each clip resized to this size (the image teacher's input). */
      imageTeacherSize?: number;
    };
