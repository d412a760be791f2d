#!/usr/bin/env node
// The mvd command line: picks the command, parses its flags strictly, runs it, and turns any
// failure into one line on stderr with exit code 2 (bad invocation) or 1 (the run failed).
// Only modules without the native addon are imported statically: the commands (and the addon) load
// inside main(), so even a failure to load them is reported as one line by fail().
import { helpText, legacyValues, parseCommand, type AnyCommand } from './command.js';
import { closest } from './flags.js';
import { UsageError } from './errors.js';
import { MvdError } from '../errors.js';

/** The command being run, for error lines ('' before one is known). */
let current = '';

function mainHelp(commands: AnyCommand[]): string {
  return [
    'mvd: masked video distillation for Node.js',
    '',
    'usage: mvd <command> [options]   (mvd <command> --help for its options)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
    '',
    'exit codes: 0 done, 1 the run failed (a library error, a missing file, I/O), 2 bad invocation',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const { commands, packageVersion } = await import('./commands/index.js');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp(commands));
    return 0;
  }
  if (name === '--version' || name === '-v') {
    console.log(packageVersion());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    const near = closest(
      name,
      commands.map((c) => c.name),
    );
    throw new UsageError(
      `unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ''}; commands: ${commands.map((c) => c.name).join(', ')}`,
    );
  }
  current = cmd.name;
  const parsed = parseCommand(cmd, rest);
  if (parsed.help) {
    console.log(helpText(cmd));
    return 0;
  }
  if ('flags' in cmd) return cmd.run(parsed.flags, parsed.positionals[0]);
  return cmd.run(legacyValues(parsed.flags), parsed.positionals);
}

function oneLine(s: string): string {
  return s
    .split('\n')
    .map((x) => x.trim())
    .filter(Boolean)
    .join('; ');
}

/** Prints the error as one line and ends the process: worker threads must not keep a failed run alive. */
function fail(e: unknown): never {
  const who = current ? `mvd ${current}` : 'mvd';
  const usage = e instanceof UsageError;
  const msg = e instanceof MvdError ? `${e.name}: ${e.message}` : e instanceof Error ? e.message : String(e);
  process.stderr.write(`${who}: ${oneLine(msg)}${usage ? ` (see ${who} --help)` : ''}\n`);
  if (process.env.MVD_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(usage ? 2 : 1);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, fail);
