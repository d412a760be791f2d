// The data pipeline's public surface (ffmpeg, decoding, sampling, augmentation parameters, masks,
// datasets, the synthetic set, the loader).
export * from './ffmpeg.js';
export * from './video.js';
export * from './rng.js';
export * from './sampling.js';
export * from './augment.js';
export * from './masking.js';
export * from './datasets.js';
export * from './bad-videos.js';
export * from './synthetic.js';
export * from './source.js';
export * from './loader.js';
export type * from './types.js';
export * from './batches.js';
