// Loading an encoder for extract and probe through the embedding API: the checkpoint says what it
// holds; --frames/--size/--pos only fill what it leaves open, and a contradiction is a usage error.
import { videoVit, type Preset } from '../../nn/config.js';
import { CheckpointChoiceError, type PosEmbed } from '../../nn/model-card.js';
import { loadEncoder, type Encoder } from '../../api/encoder.js';
import { UsageError, type Flags } from '../command.js';

/** The encoder, with the checkpoint's contradictions reported as usage errors. */
export async function openEncoder(f: Flags): Promise<Encoder> {
  const ck = f.str('checkpoint');
  let enc: Encoder;
  try {
    enc = await loadEncoder(ck, { frames: f.optNum('frames'), size: f.optNum('size'), posEmbed: f.given('pos') ? (f.word('pos') as PosEmbed) : undefined });
  } catch (e) {
    if (e instanceof CheckpointChoiceError) throw new UsageError(e.message);
    throw e;
  }
  if (f.given('model')) {
    const want = videoVit(f.word<Preset>('model'));
    const c = enc.config;
    if (want.dim !== c.dim || want.depth !== c.depth) {
      enc.dispose();
      throw new UsageError(`--model ${f.word('model')} (width ${want.dim}, depth ${want.depth}) contradicts ${ck}, which holds width ${c.dim}, depth ${c.depth}; leave --model out`);
    }
  }
  return enc;
}

