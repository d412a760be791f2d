// mvd: masked video distillation for Node.js. The public API.
export {
  Tensor,
  sync,
  disposeAll,
  setDefaultDevice,
  getDefaultDevice,
  tensorScope,
  tidy,
  unscoped,
  TensorScope,
  type DType,
  type Device,
} from './tensor.js';
export * from './errors.js';
export { buildInfo, gpuInfo, resolveDevice } from './device.js';

// Embedding: load an encoder from a checkpoint alone, features of videos or frames.
export {
  loadEncoder,
  planEncoder,
  decodeVideo,
  Encoder,
  EMBED_LAYERS,
  type LoadEncoderOptions,
  type EmbedOptions,
  type Embedding,
  type Frames,
  type EmbedLayer,
  type DecodedVideo,
  type EncoderPlan,
} from './api/encoder.js';
export * from './nn/model-card.js';

// Native ops: each runs on the CPU or, for tensors on cuda:N, on that GPU (docs/ARCHITECTURE.md's op table).
export * from './ops/gemm.js';
export * from './ops/attention.js';
export * from './ops/norm.js';
export * from './ops/elementwise.js';
export * from './ops/loss.js';
export * from './ops/xent.js';
export * from './ops/optim.js';
export * from './ops/tokens.js';
export * from './ops/tables.js';
export * from './ops/targets.js';
export * from './ops/frames.js';
export * from './ops/random.js';
export * from './ops/augment.js';

// Models, optimiser, checkpoints.
export * from './nn/config.js';
export { Module, Parameter, type PackOptions } from './nn/module.js';
export { Linear, LayerNorm, Mlp, Attention, Block } from './nn/layers.js';
export { VisionTransformer, positionalTable, type EncoderOptions, type EncoderOutput } from './nn/encoder.js';
export { MaskedDecoder, MaeDecoder } from './nn/decoders.js';
export { VideoClassifier, meanTokens } from './nn/classifier.js';
export {
  MvdStudent,
  Teacher,
  makeStudent,
  makeTeacher,
  teacherPrecisionFor,
  type TeacherKind,
  type TeacherPrecisionChoice,
} from './nn/mvd.js';
export * from './optim/groups.js';
export * from './optim/schedule.js';
export { AdamW, LossScaler } from './optim/adamw.js';
export * from './io/safetensors.js';
export * from './io/checkpoint.js';
export * from './io/training-checkpoint.js';

// Data and recipes.
export * from './data/index.js';
export * from './methods/batch.js';
export { train, NonFiniteLossError, type Recipe, type TrainOptions, type StepRecord, type TrainResult } from './methods/train.js';
export { RunFolderError } from './io/run-folder.js';
export { ResumeConfigError } from './methods/resume-check.js';
export { maeRecipe, videomaeRecipe, mam2Recipe, MaeModel, VideoMaeModel } from './methods/pretrain.js';
export { distillRecipe, distillTeacherPrecision } from './methods/distill.js';
export { extractFeatures, linearProbe } from './methods/probe.js';
export { runDemo, DEMO_DEFAULTS, type DemoOptions, type DemoResult } from './methods/demo.js';
export {
  loadDemoTeachers,
  saveDemoTeachers,
  shippedDemoTeachersFor,
  trainDemoTeachers,
  type DemoTeachers,
  type DemoTeacherSettings,
} from './methods/demo-teachers.js';
export {
  finetuneRecipe,
  finetuneBatch,
  makeClassifier,
  loadBackbone,
  checkpointKind,
  mixClips,
  FINETUNE_DEFAULTS,
  type FinetuneOptions,
  type MixOptions,
} from './methods/finetune.js';
export {
  evaluate,
  averageViewProbabilities,
  scoreProbabilities,
  SyntheticTestViews,
  type EvalResult,
  type ClassScore,
} from './methods/eval.js';
export { TeacherCache, teacherHash, type TeacherCacheOptions } from './methods/teacher-cache.js';
export * as plot from './plot/index.js';
