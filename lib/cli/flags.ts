// The declaration of a command's flags, and the conversion of one raw value (a flag's text or a
// --config JSON value) into a checked, typed value. One table drives parsing, --config and --help.
import { UsageError } from './errors.js';

export interface FlagSpec {
  /**
   * int/number: a number in range; word: one of `words` (or matching `pattern`); text: any string;
   * in-file/in-dir: an existing regular file / folder; out-file/out-dir: something we can write;
   * bool: present or absent; numbers: comma-separated numbers (`length` of them).
   */
  type: 'int' | 'number' | 'word' | 'text' | 'in-file' | 'in-dir' | 'out-file' | 'out-dir' | 'bool' | 'numbers';
  help: string;
  default?: number | string | boolean | readonly number[];
  /** Shown in --help for a default that depends on other flags (e.g. 'steps/10'). */
  defaultNote?: string;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
  multipleOf?: number;
  words?: readonly string[];
  /** More accepted words than `words` lists (e.g. cuda:N), described by `wordsNote`. */
  pattern?: RegExp;
  wordsNote?: string;
  length?: number;
  /** What a path names, for messages ("checkpoint", "run folder"). */
  what?: string;
  required?: boolean;
}

export type FlagTable = Record<string, FlagSpec>;
export type FlagValue = number | string | boolean | number[];

/** "an integer >= 1", "a number in (0, 1)", "one of: a, b": what a flag accepts, for messages and --help. */
export function expected(s: FlagSpec): string {
  switch (s.type) {
    case 'int':
    case 'number':
    case 'numbers': {
      const noun = s.type === 'int' ? 'an integer' : s.type === 'number' ? 'a number' : `${s.length ?? 'some'} comma-separated numbers`;
      return `${noun}${range(s)}${s.multipleOf ? `, a multiple of ${s.multipleOf}` : ''}`;
    }
    case 'word':
      return `one of: ${s.wordsNote ?? s.words!.join(', ')}`;
    case 'in-file':
      return `an existing ${s.what ?? 'file'}`;
    case 'in-dir':
      return `an existing ${s.what ?? 'folder'}`;
    case 'out-file':
      return 'a file path in a writable folder';
    case 'out-dir':
      return 'a folder to create or write into';
    case 'bool':
      return 'no value';
    case 'text':
      return 'a value';
  }
}

function range(s: FlagSpec): string {
  const lo = s.min !== undefined ? `[${s.min}` : s.above !== undefined ? `(${s.above}` : undefined;
  const hi = s.max !== undefined ? `${s.max}]` : s.below !== undefined ? `${s.below})` : undefined;
  if (lo && hi) return ` in ${lo}, ${hi}`;
  if (s.min !== undefined) return ` >= ${s.min}`;
  if (s.above !== undefined) return ` > ${s.above}`;
  if (s.max !== undefined) return ` <= ${s.max}`;
  if (s.below !== undefined) return ` < ${s.below}`;
  return '';
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function inRange(s: FlagSpec, x: number): boolean {
  if (!Number.isFinite(x) || (s.type === 'int' && !Number.isInteger(x))) return false;
  if (s.min !== undefined && x < s.min) return false;
  if (s.max !== undefined && x > s.max) return false;
  if (s.above !== undefined && x <= s.above) return false;
  if (s.below !== undefined && x >= s.below) return false;
  return !s.multipleOf || x % s.multipleOf === 0;
}

/**
 * The typed value of `raw` for flag `name`. `fromConfig`: raw is a JSON value (numbers must be JSON
 * numbers, words strings...); otherwise it is the flag's text. `where` prefixes messages.
 */
export function convert(name: string, s: FlagSpec, raw: unknown, fromConfig: boolean, where = `--${name}`): FlagValue {
  const bad = (): never => {
    throw new UsageError(`${where}: expected ${expected(s)}, got ${fromConfig ? JSON.stringify(raw) : `'${String(raw)}'`}`);
  };
  switch (s.type) {
    case 'bool':
      if (typeof raw !== 'boolean') bad();
      return raw as boolean;
    case 'int':
    case 'number': {
      if (fromConfig ? typeof raw !== 'number' : !NUMBER.test(String(raw))) bad();
      const x = Number(raw);
      if (!inRange(s, x)) bad();
      return x;
    }
    case 'numbers': {
      const parts = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : bad();
      const xs = parts.map((p) => (typeof p === 'number' || (typeof p === 'string' && NUMBER.test(p.trim())) ? Number(p) : NaN));
      if ((s.length !== undefined && xs.length !== s.length) || !xs.every((x) => inRange(s, x))) bad();
      return xs;
    }
    default: {
      if (typeof raw !== 'string' || raw === '') bad();
      const w = raw as string;
      if (s.type === 'word' && !s.words!.includes(w) && !s.pattern?.test(w)) {
        const near = closest(w, s.words!);
        throw new UsageError(`${where}: unknown value '${w}', expected ${expected(s)}${near ? ` (did you mean '${near}'?)` : ''}`);
      }
      return w;
    }
  }
}

/** The candidate nearest to `word` by edit distance, when it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined,
    bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(Math.min(word.length, best.length) / 3)) ? best : undefined;
}

/** Edit distance where swapping two neighbouring letters counts as one edit (the commonest typo). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.length][b.length];
}
