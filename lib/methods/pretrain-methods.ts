// The pretraining methods by name: one table the command line (`mvd pretrain --method`) and any
// other caller choose from, so a new method is one entry here instead of a branch in each caller.
import type { Preset } from '../nn/config.js';
import type { Module } from '../nn/module.js';
import type { BatchSampler, SkipReport } from './batch.js';
import type { Recipe } from './train.js';
import { maeRecipe, videomaeRecipe, mam2Recipe } from './pretrain.js';

/** What every pretraining method is built from (the method's own options keep their defaults). */
export interface PretrainSettings {
  preset: Preset;
  frames: number;
  size: number;
  maskRatio: number;
  seed: number;
}

/** One pretraining method: what it is, its default mask ratio, and how to build its recipe. */
export interface PretrainMethod {
  /** A few words for help text. */
  help: string;
  /** Fraction of tokens masked when the caller does not choose (SPEC §7, §8, §9). */
  maskRatio: number;
  /** The recipe, owning `data` (it closes it on dispose). */
  recipe(data: BatchSampler, s: PretrainSettings): Recipe & SkipReport & { model: Module };
}

/** The pretraining methods: mae (image teacher, on frames), videomae (video teacher), mam2. */
export const PRETRAIN_METHODS = {
  mae: {
    help: 'image teacher, on frames',
    maskRatio: 0.75,
    recipe: (data, s) => maeRecipe(data, { preset: s.preset, size: s.size, maskRatio: s.maskRatio, seed: s.seed }),
  },
  videomae: { help: 'video teacher', maskRatio: 0.9, recipe: (data, s) => videomaeRecipe(data, s) },
  mam2: { help: 'appearance + motion', maskRatio: 0.9, recipe: (data, s) => mam2Recipe(data, s) },
} as const satisfies Record<string, PretrainMethod>;

/** A name in PRETRAIN_METHODS. */
export type PretrainMethodName = keyof typeof PRETRAIN_METHODS;

/** The method names, in the table's order. */
export const PRETRAIN_METHOD_NAMES = Object.keys(PRETRAIN_METHODS) as PretrainMethodName[];
