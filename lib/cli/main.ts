#!/usr/bin/env node
// The mvd command line: parses the command, runs it, turns errors into one clear line.
import { infoCommand, packageVersion } from './commands/info.js';
import { benchCommand } from './commands/bench.js';
import { demoCommand } from './commands/demo.js';
import { synthCommand } from './commands/synth.js';
import { finetuneCommand } from './commands/finetune.js';
import { evalCommand } from './commands/eval.js';
import { plotCommand } from './commands/plot.js';
import { pretrainCommand, distillCommand, extractCommand, probeCommand } from './commands/train.js';
import { helpText, parseCommand, UsageError, type Command } from './command.js';
import { MvdError } from '../errors.js';

const commands: Command[] = [demoCommand, pretrainCommand, distillCommand, finetuneCommand, evalCommand, probeCommand, extractCommand, plotCommand, synthCommand, benchCommand, infoCommand];

function mainHelp(): string {
  return [
    'mvd: masked video distillation for Node.js',
    '',
    'usage: mvd <command> [options]   (mvd <command> --help for its options)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(packageVersion());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command '${name}'\n\n${mainHelp()}`);
  const { values, positionals } = parseCommand(cmd, rest);
  if (values.help) {
    console.log(helpText(cmd));
    return 0;
  }
  return cmd.run(values, positionals);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    if (e instanceof UsageError) {
      console.error(`mvd: ${e.message}`);
      process.exitCode = 2;
    } else if (e instanceof MvdError) {
      console.error(`mvd: ${e.name}: ${e.message}`);
      process.exitCode = 1;
    } else {
      console.error(e);
      process.exitCode = 1;
    }
  },
);
