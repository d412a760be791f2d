// `mvd probe`: linear probe of a frozen encoder on the synthetic appearance or motion task.
import { SyntheticDataset, APPEARANCE_CLASSES, MOTION_CLASSES } from '../../data/synthetic.js';
import { extractFeatures, linearProbe } from '../../methods/probe.js';
import type { FlagCommand } from '../command.js';
import { JSON_FLAG, LABEL, reportSkipped, SEED } from './common.js';
import { checkpointChoiceFlags, openEncoder } from './encoder.js';

export const probeCommand: FlagCommand = {
  name: 'probe',
  summary: 'linear probe of a frozen encoder on the synthetic appearance or motion task',
  usage: 'mvd probe --checkpoint W.safetensors [--label appearance|motion] [--clips N] [--steps N]',
  flags: {
    checkpoint: { type: 'in-file', what: 'checkpoint', required: true, help: 'encoder weights' },
    ...checkpointChoiceFlags(2),
    label: LABEL,
    clips: { type: 'int', min: 2, help: 'train clips (validation: half as many)', default: 512 },
    seed: SEED,
    steps: { type: 'int', min: 1, help: 'probe optimiser steps', default: 300 },
    json: JSON_FLAG,
  },
  async run(f) {
    const seed = f.num('seed'),
      n = f.num('clips');
    const label = f.word<'appearance' | 'motion'>('label');
    using encoder = await openEncoder(f);
    const enc = encoder.module,
      frames = encoder.clipFrames,
      size = encoder.config.size;
    const tr = await extractFeatures(enc, new SyntheticDataset({ seed, count: n, frames, size }));
    const va = await extractFeatures(enc, new SyntheticDataset({ seed: seed + 100000, count: n >> 1, frames, size }));
    const classes = label === 'appearance' ? APPEARANCE_CLASSES.length : MOTION_CLASSES.length;
    const r = await linearProbe({ x: tr.features, y: tr.labelSets[label] }, { x: va.features, y: va.labelSets[label] }, classes, {
      steps: f.num('steps'),
      seed,
    });
    tr.features.dispose();
    va.features.dispose();
    reportSkipped(tr, va, r);
    console.log(
      f.bool('json')
        ? JSON.stringify({ label, ...r })
        : `${label}: train top-1 ${(100 * r.trainAcc).toFixed(1)}%, val top-1 ${(100 * r.valAcc).toFixed(1)}% (chance ${(100 / classes).toFixed(0)}%)`,
    );
    return 0;
  },
};
