// Every command, in the order `mvd --help` lists them.
import { infoCommand } from './info.js';
import { benchCommand } from './bench.js';
import { demoCommand } from './demo.js';
import { synthCommand } from './synth.js';
import { finetuneCommand } from './finetune.js';
import { evalCommand } from './eval.js';
import { plotCommand } from './plot.js';
import { pretrainCommand, distillCommand } from './train.js';
import { extractCommand } from './extract.js';
import { probeCommand } from './probe.js';
import type { AnyCommand } from '../command.js';

export { packageVersion } from './info.js';

export const commands: AnyCommand[] = [
  demoCommand,
  pretrainCommand,
  distillCommand,
  finetuneCommand,
  evalCommand,
  probeCommand,
  extractCommand,
  plotCommand,
  synthCommand,
  benchCommand,
  infoCommand,
];
