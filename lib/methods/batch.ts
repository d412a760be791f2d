// The recipes' batches live in lib/data/batches.ts (files → lib/data → lib/methods → lib/nn);
// this module keeps the names importable from where they used to be.
export {
  BatchSampler,
  IMAGENET_MEAN,
  IMAGENET_STD,
  clipBatch,
  maskedBatch,
  stackClips,
  type ClipBatch,
  type FrameSelect,
  type MaskedBatch,
  type SamplerOptions,
  type SkipReport,
} from '../data/batches.js';
