// A resumed run must be the run on disk: the same hyper-parameters, or an explicit override that
// the log records. Otherwise `--resume --lr 1e-3` on a run started at 1.5e-4 silently trains a
// third schedule that neither invocation asked for.
import { ValueError } from '../errors.js';

/** A resume whose configuration differs from the stored one, without `override`. */
export class ResumeConfigError extends ValueError {}

/**
 * Keys that may differ between the invocations of one run, because they say how far, where or on
 * what the run goes, not what it computes (both the library's names and the CLI's flag names):
 * - steps: extends (or ends earlier) a run; the cosine schedule stretches from the resume on, which
 *   is the whole point of extending, so it is not reported as an override;
 * - checkpointEvery, stopAfter: when state is saved and when this invocation pauses;
 * - out, runDir: the folder is the run's identity already (it may have been moved or renamed);
 * - resume, force, override, json: how this invocation treats the folder and prints;
 * - device: the same run may move between CPU and GPU; the arithmetic is the same up to rounding;
 * - no-pack-teachers: frozen teachers with or without their packed weight copy: memory and speed.
 * Everything else, including seeds and data options, counts as a hyper-parameter.
 */
export const FREE_KEYS: ReadonlySet<string> = new Set([
  'steps',
  'checkpointEvery',
  'checkpoint-every',
  'stopAfter',
  'stop-after',
  'out',
  'runDir',
  'resume',
  'force',
  'override',
  'json',
  'device',
  'no-pack-teachers',
]);

export interface Change {
  from: unknown;
  to: unknown;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Nested objects as dotted keys, so a change names the exact leaf (`layerDecay.decay`). */
function flatten(x: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (!isPlainObject(x)) {
    if (x !== undefined) out[prefix] = x;
    return out;
  }
  for (const [k, v] of Object.entries(x)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** Every non-free key whose value differs (a key present on one side only is a change too). */
export function configChanges(stored: unknown, now: unknown): Record<string, Change> {
  const a = flatten(stored),
    b = flatten(now);
  const out: Record<string, Change> = {};
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (FREE_KEYS.has(k.split('.')[0])) continue;
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) out[k] = { from: a[k], to: b[k] };
  }
  return out;
}

const show = (v: unknown) => (v === undefined ? '(unset)' : JSON.stringify(v));

/** `key: old → new` per change, on one line (the CLI prints an error as one line). */
export function describeChanges(changes: Record<string, Change>): string {
  return Object.entries(changes)
    .map(([k, c]) => `${k}: ${show(c.from)} → ${show(c.to)}`)
    .join('; ');
}
