// `mvd synth`: the synthetic set written as mp4 files plus list files.
import { writeSyntheticSet } from '../../data/synthetic.js';
import type { FlagCommand } from '../command.js';
import { JSON_FLAG, SEED } from './common.js';

export const synthCommand: FlagCommand = {
  name: 'synth',
  summary: 'write the synthetic spatial-vs-temporal set as mp4 files plus list files for both label sets',
  usage: 'mvd synth --out DIR [--videos N] [--frames 16] [--size 112] [--seed 0]',
  flags: {
    out: { type: 'out-dir', required: true, help: 'output folder' },
    videos: { type: 'int', min: 1, help: 'number of clips', default: 64 },
    frames: { type: 'int', min: 1, help: 'frames per clip', default: 16 },
    size: { type: 'int', min: 16, multipleOf: 2, help: 'frame size (even: yuv420p video)', default: 112 },
    seed: SEED,
    json: JSON_FLAG,
  },
  async run(f) {
    const json = f.bool('json');
    const r = await writeSyntheticSet({
      outDir: f.str('out'),
      videos: f.num('videos'),
      frames: f.num('frames'),
      size: f.num('size'),
      seed: f.num('seed'),
      onProgress: json ? undefined : (d, t) => process.stderr.write(`\r${d}/${t} clips`),
    });
    if (!json) process.stderr.write('\n');
    console.log(
      json
        ? JSON.stringify(r, null, 2)
        : `wrote ${r.videos} clips (${r.codec}) to ${r.outDir}: ${r.train} train, ${r.val} val; lists ${r.lists.join(', ')}`,
    );
    return 0;
  },
};
