// A CLI command: a table of flags (which drives strict parsing, --config checking and --help) and a
// run function. `Command` is the older shape (node:util parseArgs options, text values); it goes
// through the same strict parser, with every string flag taken as free text.
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { closest, convert, expected, type FlagSpec, type FlagTable, type FlagValue } from './flags.js';
import { checkInput, prepareOutput } from './paths.js';
import { Flags } from './values.js';
import { UsageError } from './errors.js';

export { UsageError, RunError } from './errors.js';
export { Flags } from './values.js';
export type { FlagSpec, FlagTable } from './flags.js';

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

export interface FlagCommand {
  name: string;
  summary: string;
  usage: string;
  flags: FlagTable;
  /** A leading word argument (`mvd plot curves`). */
  positional?: { name: string; words: readonly string[] };
  /** Rules between flags; runs after every value is checked and before output folders are created. */
  check?(f: Flags, positional: string | undefined): void;
  run(f: Flags, positional: string | undefined): Promise<number>;
}

export type AnyCommand = Command | FlagCommand;

function tableOf(cmd: AnyCommand): FlagTable {
  if ('flags' in cmd) return cmd.flags;
  return Object.fromEntries(
    Object.entries(cmd.options).map(([name, o]): [string, FlagSpec] => [
      name,
      { type: o.type === 'boolean' ? 'bool' : 'text', help: cmd.help[name] ?? '', default: o.default as FlagSpec['default'] },
    ]),
  );
}

interface Raw {
  help: boolean;
  given: Map<string, string | true>;
  positionals: string[];
}

/** Splits argv into flags and positionals; unknown, repeated and value-less flags are usage errors. */
function tokenize(table: FlagTable, argv: string[]): Raw {
  const raw: Raw = { help: false, given: new Map(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      raw.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '-h' || a === '--help') {
      raw.help = true;
      continue;
    }
    if (!a.startsWith('-') || a === '-') {
      raw.positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? a.slice(2, eq < 0 ? undefined : eq) : a.slice(1);
    const spec = a.startsWith('--') ? table[name] : undefined;
    if (!spec || !Object.hasOwn(table, name)) {
      const near = closest(name, Object.keys(table));
      throw new UsageError(`unknown flag ${eq < 0 ? a : a.slice(0, eq)}${near ? ` (did you mean --${near}?)` : ''}`);
    }
    if (raw.given.has(name)) throw new UsageError(`--${name} is given twice`);
    if (spec.type === 'bool') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value (got '${a.slice(eq + 1)}')`);
      raw.given.set(name, true);
      continue;
    }
    const value = eq >= 0 ? a.slice(eq + 1) : argv[i + 1];
    // A following flag is not a value; a negative number is (and is then checked against the range).
    if (value === undefined || (eq < 0 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value: ${expected(spec)}`);
    if (eq < 0) i++;
    raw.given.set(name, value);
  }
  return raw;
}

/** The keys of a --config JSON file, checked against the same table as the flags. */
function readConfig(table: FlagTable, file: string): Map<string, FlagValue> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--config ${file}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new UsageError(`--config ${file}: expected a JSON object of flag names and values`);
  const valid = Object.keys(table).filter((k) => k !== 'config');
  const out = new Map<string, FlagValue>();
  for (const [k, x] of Object.entries(json)) {
    if (!valid.includes(k)) {
      const near = closest(k, valid);
      throw new UsageError(
        `--config ${file}: unknown key '${k}'${near ? ` (did you mean '${near}'?)` : ''}; valid keys: ${valid.join(', ')}`,
      );
    }
    out.set(k, convert(k, table[k], x, true, `--config ${file}: key '${k}'`));
  }
  return out;
}

export type Parsed = { help: true } | { help: false; flags: Flags; positionals: string[] };

/**
 * Parses argv once against the command's table: values checked, --config merged under the flags,
 * defaults applied, cross-flag rules run, input paths checked and output folders prepared.
 */
export function parseCommand(cmd: AnyCommand, argv: string[]): Parsed {
  const table = tableOf(cmd);
  const raw = tokenize(table, argv);
  if (raw.help) return { help: true };
  const values = new Map<string, FlagValue>();
  for (const [name, x] of raw.given) values.set(name, convert(name, table[name], x, false));
  if (table.config && values.has('config')) {
    const file = values.get('config') as string;
    checkInput('config', table.config, file);
    for (const [k, x] of readConfig(table, file)) if (!values.has(k)) values.set(k, x);
  }
  const explicit = new Set(values.keys());
  for (const [name, s] of Object.entries(table)) {
    if (!values.has(name) && s.default !== undefined)
      values.set(name, Array.isArray(s.default) ? [...s.default] : (s.default as FlagValue));
    if (s.required && !values.has(name)) throw new UsageError(`--${name} is required: ${s.help}`);
  }
  const flags = new Flags(cmd.name, table, values, explicit);
  if ('flags' in cmd) {
    const p = cmd.positional;
    if (raw.positionals.length > (p ? 1 : 0)) throw new UsageError(`unexpected argument '${raw.positionals[p ? 1 : 0]}'`);
    const w = raw.positionals[0];
    if (p && w !== undefined && !p.words.includes(w))
      throw new UsageError(`unknown ${p.name} '${w}', expected one of: ${p.words.join(', ')}`);
    cmd.check?.(flags, w);
  }
  // Inputs before outputs: a run that cannot read its inputs leaves no new folder behind.
  for (const [name, s] of Object.entries(table))
    if ((s.type === 'in-file' || s.type === 'in-dir') && explicit.has(name)) checkInput(name, s, flags.str(name));
  for (const [name, s] of Object.entries(table))
    if ((s.type === 'out-file' || s.type === 'out-dir') && explicit.has(name)) prepareOutput(name, s, flags.str(name));
  return { help: false, flags, positionals: raw.positionals };
}

/** The values a `Command` (parseArgs shape) expects. */
export function legacyValues(flags: Flags): Record<string, string | boolean | undefined> {
  return flags.record() as Record<string, string | boolean>;
}

const HINT: Record<FlagSpec['type'], string> = {
  int: '<int>',
  number: '<x>',
  word: '<word>',
  text: '<value>',
  'in-file': '<file>',
  'in-dir': '<dir>',
  'out-file': '<file>',
  'out-dir': '<dir>',
  bool: '',
  numbers: '<a,b>',
};

export function helpText(cmd: AnyCommand): string {
  const table = tableOf(cmd);
  const lines = [`mvd ${cmd.name}: ${cmd.summary}`, '', `usage: ${cmd.usage}`, ''];
  for (const [name, s] of Object.entries(table)) {
    const flag = `--${name}${HINT[s.type] ? ` ${HINT[s.type]}` : ''}`;
    const accepts = ['int', 'number', 'numbers', 'word'].includes(s.type) ? `; ${expected(s)}` : '';
    const dflt = s.default !== undefined ? ` (default ${String(s.default)})` : s.defaultNote ? ` (default: ${s.defaultNote})` : '';
    lines.push(`  ${flag.padEnd(28)} ${s.help}${accepts}${dflt}${s.required ? ' [required]' : ''}`);
  }
  lines.push(`  ${'--help'.padEnd(28)} this text`);
  return lines.join('\n');
}
