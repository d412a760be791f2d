// Model weights: safetensors with the reference repositories' key names (SPEC §5), mapped onto a
// module's parameters. A load either fits the model exactly (shape, dtype, finite values) or
// throws before any parameter changes; keeping some parameters fresh must be asked for by name.
// (A run folder's training checkpoints live in training-checkpoint.ts.)
import { Tensor } from '../tensor.js';
import { DTypeError, ShapeError, ValueError } from '../errors.js';
import type { Module, Parameter } from '../nn/module.js';
import { allFinite } from '../ops/optim.js';
import { loadSafetensors, printable, saveSafetensors } from './safetensors.js';

/** Parameter values by state-dict name (views, not copies). */
export function stateDict(m: Module): Map<string, Tensor> {
  return new Map(m.namedParameters().map(([n, p]) => [n, p.value as Tensor]));
}

/**
 * What a state-dict load did, by model name: missing and mismatched hold only names mayStayFresh
 * allowed (anything else throws); unexpected lists file keys the model lacks (an error under strict).
 */
export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { name: string; expected: number[]; got: number[] }[];
}

const fmt = (shape: readonly number[]) => `[${shape.join(',')}]`;

/**
 * Maps reference checkpoint keys onto this model's names (SPEC §5.5): strips `encoder.` /
 * `backbone.` (or a given prefix), drops positional tables (always recomputed), and converts the
 * attention bias between the two conventions (qkv.bias ⇄ q_bias + v_bias).
 */
export function mapReferenceKeys(
  tensors: Map<string, Tensor>,
  want: Set<string>,
  opts: { stripPrefixes?: string[]; source?: string } = {},
): Map<string, Tensor> {
  const prefixes = opts.stripPrefixes ?? ['encoder.', 'backbone.', 'module.'];
  const where = opts.source ? `${opts.source}: ` : '';
  // The bias conversions slice and join f32 vectors; anything else would be cut at wrong places.
  const expectBias = (name: string, t: Tensor, multipleOf: number) => {
    if (t.dtype !== 'f32')
      throw new DTypeError(printable(`${where}'${name}' is ${t.dtype}, expected f32 for an attention bias`), { op: 'mapReferenceKeys' });
    if (t.ndim !== 1 || t.shape[0] % multipleOf !== 0)
      throw new ShapeError(
        printable(`${where}'${name}' is ${fmt(t.shape)}, expected one dimension divisible by ${multipleOf} for an attention bias`),
        { op: 'mapReferenceKeys' },
      );
  };
  const out = new Map<string, Tensor>();
  for (const [k0, t] of tensors) {
    let k = k0;
    for (const p of prefixes) if (k.startsWith(p) && !want.has(k)) k = k.slice(p.length);
    if (/(^|\.)pos_embed(_\w+)?$/.test(k) || k === 'decoder_pos_embed') continue;
    out.set(k, t);
  }
  for (const k of [...out.keys()]) {
    const m = /^(.*\.attn)\.qkv\.bias$/.exec(k);
    if (m && !want.has(k) && want.has(`${m[1]}.q_bias`)) {
      // MAE-style full bias into a VideoMAE-style model: q and v slices; the k slice is dropped.
      const full = out.get(k)!;
      expectBias(k, full, 3);
      const d = full.shape[0] / 3;
      out.set(`${m[1]}.q_bias`, full.slice(0, d));
      out.set(`${m[1]}.v_bias`, full.slice(2 * d, 3 * d));
      out.delete(k);
    }
    const q = /^(.*\.attn)\.q_bias$/.exec(k);
    if (q && !want.has(k) && want.has(`${q[1]}.qkv.bias`)) {
      const qb = out.get(k)!,
        vb = out.get(`${q[1]}.v_bias`);
      expectBias(k, qb, 1);
      const d = qb.shape[0];
      if (vb) {
        expectBias(`${q[1]}.v_bias`, vb, 1);
        if (vb.shape[0] !== d)
          throw new ShapeError(printable(`${where}'${q[1]}.v_bias' is ${fmt(vb.shape)}, expected [${d}] like '${k}'`), {
            op: 'mapReferenceKeys',
          });
      }
      const full = Tensor.zeros([3 * d], { device: qb.device });
      {
        using qs = full.slice(0, d);
        qs.assign(qb as Tensor<'f32'>);
      }
      if (vb) {
        using vs = full.slice(2 * d, 3 * d);
        vs.assign(vb as Tensor<'f32'>);
      }
      out.set(`${q[1]}.qkv.bias`, full);
      out.delete(k);
      out.delete(`${q[1]}.v_bias`);
    }
  }
  return out;
}

/**
 * Options of loadStateDict / loadWeights: key mapping, strictness and the parameters allowed to stay fresh.
 */
export interface StateDictLoadOptions {
  /** Checkpoint keys the model lacks are an error too (resuming a run, evaluating a classifier). */
  strict?: boolean;
  /** false: the names are this library's own (a run folder); default: map reference keys. */
  mapKeys?: boolean;
  /**
   * A partial load, asked for explicitly: parameters that may keep their fresh initialisation when
   * the file lacks them or holds another shape or dtype. Each entry is a full name or a prefix
   * ending in '.', e.g. ['head.', 'fc_norm.'] to fine-tune a classifier from a pretrained encoder.
   * Every other trainable parameter must load, with its exact shape and dtype, and finite.
   */
  mayStayFresh?: readonly string[];
  /** What the tensors came from (a file path), for messages. */
  source?: string;
  /**
   * The tensors belong to this load alone (loadWeights sets it): dense ones become the parameters
   * themselves instead of being copied in. Never for tensors the caller keeps using.
   */
  adopt?: boolean;
}

function listed(kind: string, items: string[]): string {
  const cut = (x: string) => (x.length > 120 ? `${x.slice(0, 117)}…` : x);
  return `${items.length} ${kind} (${items.slice(0, 4).map(cut).join('; ')}${items.length > 4 ? `; +${items.length - 4} more` : ''})`;
}

/** The index of the first non-finite tensor, found by halving; the whole list holds one. */
function firstNonFinite(ts: Tensor[]): number {
  let lo = 0,
    hi = ts.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    using ok = allFinite(ts.slice(lo, mid));
    if (ok.toArraySync()[0] === 1) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Copies the checkpoint's tensors into the module's parameters. Every trainable parameter must be
 * there with its exact shape and dtype (same element count in another layout is an error) and
 * hold only finite values, unless `mayStayFresh` names it; anything else throws before a single
 * parameter changes: a ShapeError (shapes differ), DTypeError (dtypes differ) or ValueError
 * (missing, non-finite, or unexpected under `strict`), naming the keys and both sides.
 */
export function loadStateDict(m: Module, tensors: Map<string, Tensor>, opts: StateDictLoadOptions = {}): LoadReport {
  const named = m.namedParameters();
  const want = new Set(named.map(([n]) => n));
  const src = opts.mapKeys === false ? tensors : mapReferenceKeys(tensors, want, { source: opts.source });
  const fresh = opts.mayStayFresh ?? [];
  const mayStayFresh = (n: string) => fresh.some((f) => (f.endsWith('.') ? n.startsWith(f) : n === f));
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  const shapeErrs: string[] = [],
    dtypeErrs: string[] = [],
    missingErrs: string[] = [];
  const plan: [Parameter, Tensor, string][] = [];
  try {
    for (const [name, p] of named) {
      const t = src.get(name);
      const sameShape = t !== undefined && t.shape.length === p.value.shape.length && t.shape.every((d, i) => d === p.value.shape[i]);
      if (t && sameShape && t.dtype === p.value.dtype) {
        plan.push([p, t, name]);
        continue;
      }
      if (!t) {
        if (!p.trainable) continue; // frozen tables are recomputed, never read
        report.missing.push(name);
        if (!mayStayFresh(name)) missingErrs.push(name);
        continue;
      }
      report.mismatched.push({ name, expected: [...p.value.shape], got: [...t.shape] });
      if (mayStayFresh(name)) continue;
      if (!sameShape) shapeErrs.push(`${name}: ${fmt(t.shape)} vs ${fmt(p.value.shape)}`);
      else dtypeErrs.push(`${name}: ${t.dtype} vs ${p.value.dtype}`);
    }
    for (const k of src.keys()) if (!want.has(k)) report.unexpected.push(k);
    const where = opts.source ? `${opts.source}: ` : '';
    const problems = [
      shapeErrs.length ? listed("with other shapes than this model's, file vs model", shapeErrs) : '',
      dtypeErrs.length ? listed("with other dtypes than this model's, file vs model", dtypeErrs) : '',
      missingErrs.length ? listed('missing', missingErrs) : '',
      opts.strict && report.unexpected.length ? listed('unexpected', report.unexpected) : '',
    ].filter(Boolean);
    if (problems.length) {
      const Cls = shapeErrs.length ? ShapeError : dtypeErrs.length ? DTypeError : ValueError;
      throw new Cls(printable(`checkpoint does not match the model${opts.source ? ` (${opts.source})` : ''}: ${problems.join('; ')}`), {
        op: 'loadStateDict',
      });
    }
    // One native pass over every tensor; the search for the culprit runs only on failure.
    const loaded = plan.map(([, t]) => t);
    if (loaded.length) {
      using ok = allFinite(loaded);
      if (ok.toArraySync()[0] !== 1) {
        const bad = plan[firstNonFinite(loaded)];
        throw new ValueError(
          printable(`${where}weight '${bad[2]}' ${fmt(bad[1].shape)} holds NaN or Inf values; a checkpoint must be finite`),
          { op: 'loadStateDict' },
        );
      }
    }
    // Packed copies of the old weights would go stale (Module.packWeights).
    m.unpackWeights();
    for (const [p, t, name] of plan) {
      // Tensors only this load holds (loadWeights' fresh reads) become the parameter itself: another
      // reference to the same storage, no copy. Only dense, trainable, same-device ones: a frozen
      // table may be a view that modules read through another handle, and a caller's own tensors
      // must never end up shared by two models.
      if (opts.adopt && p.trainable && t.device === p.value.device && t.offset === 0 && t.numel * 4 === t.handle.bytes) {
        const old = p.value;
        p.value = t.reshape(old.shape);
        old.dispose();
      } else p.value.assign(t as Tensor<'f32'>);
      report.loaded.push(name);
    }
    return report;
  } finally {
    // Tensors the key mapping made (bias slices, joined biases); the caller owns the originals.
    const given = new Set(tensors.values());
    for (const t of src.values()) if (!given.has(t)) t.dispose();
  }
}

/**
 * Writes every parameter of `m` (frozen tables included) under its state-dict name as safetensors,
 * atomically; `metadata` goes into the header's __metadata__.
 */
export async function saveWeights(path: string, m: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(path, stateDict(m), metadata);
}

/** loadSafetensors + loadStateDict (same checks), messages naming the file. */
export async function loadWeights(path: string, m: Module, opts: Omit<StateDictLoadOptions, 'source' | 'adopt'> = {}): Promise<LoadReport> {
  // Read onto the model's device: each tensor can then become its parameter, not a copy across devices.
  const device = m.namedParameters().find(([, p]) => p.trainable)?.[1].value.device;
  const { tensors } = await loadSafetensors(path, { device });
  try {
    return loadStateDict(m, tensors, { ...opts, source: path, adopt: true });
  } finally {
    // Adopted tensors are held by their parameters and assign() by its queued op: this drops only ours.
    for (const t of tensors.values()) t.dispose();
  }
}

/**
 * loadWeights for a model built without initialisation (`init: 'none'`): every parameter must come
 * from the file, so nothing is left unset. A model that fails to load holds no usable values, so
 * it is disposed before the error is rethrown. Returns the model.
 */
export async function loadAllWeights<M extends Module>(path: string, model: M): Promise<M> {
  try {
    await loadWeights(path, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
