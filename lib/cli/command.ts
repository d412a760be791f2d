// The shape of a CLI command: options for node:util parseArgs, help text, and a run function.
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Options;
  /** Help lines for each option, by name. */
  help: Record<string, string>;
  run(values: Record<string, string | boolean | string[] | undefined>, positionals: string[]): Promise<number>;
}

export class UsageError extends Error {}

/** The value of a flag that takes one of a fixed set of words (`fallback` when it was not given). */
export function choice<T extends string>(flag: string, given: unknown, choices: readonly T[], fallback: T): T {
  const value = (given ?? fallback) as T;
  if (!choices.includes(value)) throw new UsageError(`--${flag} must be ${choices.join(' or ')} (got '${value}')`);
  return value;
}

export function parseCommand(cmd: Command, argv: string[]) {
  try {
    return parseArgs({ args: argv, options: { ...cmd.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${helpText(cmd)}`);
  }
}

export function helpText(cmd: Command): string {
  const lines = [`mvd ${cmd.name}: ${cmd.summary}`, '', `usage: ${cmd.usage}`, ''];
  for (const [name, spec] of Object.entries(cmd.options)) {
    const flag = `--${name}${spec.type === 'string' ? ' <value>' : ''}`;
    lines.push(`  ${flag.padEnd(28)} ${cmd.help[name] ?? ''}${spec.default !== undefined ? ` (default ${spec.default})` : ''}`);
  }
  lines.push(`  ${'--help'.padEnd(28)} this text`);
  return lines.join('\n');
}
