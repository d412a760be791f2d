// Loading an encoder for extract and probe through the embedding API: the checkpoint says what it
// holds; --frames/--size/--pos only fill what it leaves open, and a contradiction is a usage error.
import { videoVit, type Preset } from '../../nn/config.js';
import { CheckpointChoiceError, type PosEmbed } from '../../nn/model-card.js';
import { loadEncoder, planEncoder, type Encoder, type EncoderPlan, type LoadEncoderOptions } from '../../api/encoder.js';
import { UsageError, type FlagTable, type Flags } from '../command.js';
import { modelFlag } from './common.js';

/** The flags extract and probe share: what a checkpoint may leave open, and a preset to check against. */
export function checkpointChoiceFlags(minFrames: number): FlagTable {
  return {
    model: modelFlag('check that the checkpoint holds this preset (optional: the checkpoint says)', undefined),
    frames: { type: 'int', min: minFrames, help: 'frames per clip, only where the checkpoint does not say (reference files: 16)' },
    size: { type: 'int', min: 16, help: 'clip size, only where the checkpoint does not say (reference files: 224)' },
    pos: {
      type: 'word',
      words: ['sincos3d', 'sinusoid1d'],
      help: 'positional table, only where the checkpoint cannot say (a reference fine-tuned classifier)',
    },
  };
}

function choices(f: Flags): LoadEncoderOptions {
  return { frames: f.optNum('frames'), size: f.optNum('size'), posEmbed: f.given('pos') ? (f.word('pos') as PosEmbed) : undefined };
}

/** A checkpoint's contradictions with the flags are usage errors (exit 2). */
async function asUsage<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof CheckpointChoiceError) throw new UsageError(e.message);
    throw e;
  }
}

/** What --checkpoint and the flags describe, from the file's header alone (fast: no weights). */
export function planFromFlags(f: Flags): Promise<EncoderPlan> {
  return asUsage(planEncoder(f.str('checkpoint'), choices(f)));
}

/** The encoder, with the checkpoint's contradictions reported as usage errors. */
export async function openEncoder(f: Flags): Promise<Encoder> {
  const ck = f.str('checkpoint');
  const enc = await asUsage(loadEncoder(ck, choices(f)));
  if (f.given('model')) {
    const want = videoVit(f.word<Preset>('model'));
    const c = enc.config;
    if (want.dim !== c.dim || want.depth !== c.depth) {
      enc.dispose();
      throw new UsageError(
        `--model ${f.word('model')} (width ${want.dim}, depth ${want.depth}) contradicts ${ck}, which holds width ${c.dim}, depth ${c.depth}; leave --model out`,
      );
    }
  }
  return enc;
}
