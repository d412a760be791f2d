import { writeSyntheticSet } from '../../data/synthetic.js';
import { UsageError, type Command } from '../command.js';

export const synthCommand: Command = {
  name: 'synth',
  summary: 'write the synthetic spatial-vs-temporal set as mp4 files plus list files for both label sets',
  usage: 'mvd synth --out DIR [--videos N] [--frames 16] [--size 112] [--seed 0]',
  options: { out: { type: 'string' }, videos: { type: 'string' }, frames: { type: 'string' }, size: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } },
  help: { out: 'output folder', videos: 'number of clips (default 64)', frames: 'frames per clip (default 16)', size: 'frame size (default 112)', seed: 'seed (default 0)', json: 'print JSON' },
  async run(v) {
    if (typeof v.out !== 'string') throw new UsageError('--out DIR is required');
    const r = await writeSyntheticSet({
      outDir: v.out, videos: Number(v.videos ?? 64), frames: Number(v.frames ?? 16), size: Number(v.size ?? 112), seed: Number(v.seed ?? 0),
      onProgress: v.json ? undefined : (d, t) => process.stderr.write(`\r${d}/${t} clips`),
    });
    if (!v.json) process.stderr.write('\n');
    console.log(v.json ? JSON.stringify(r, null, 2) : `wrote ${r.videos} clips (${r.codec}) to ${r.outDir}: ${r.train} train, ${r.val} val; lists ${r.lists.join(', ')}`);
    return 0;
  },
};
