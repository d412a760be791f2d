// Weights and training state. Weights are safetensors with the reference repositories' key names
// (SPEC §5); a training checkpoint is a folder written under a temporary name and renamed into
// place, with `latest.json` (itself written atomically) naming the newest complete one. A crash
// at any point leaves the previous checkpoint loadable.
import { mkdir, readFile, rename, rm, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../tensor.js';
import { ShapeError, ValueError } from '../errors.js';
import type { Module } from '../nn/module.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';
import { writeFileAtomic } from './atomic.js';

/** Parameter values by state-dict name (views, not copies). */
export function stateDict(m: Module): Map<string, Tensor> {
  return new Map(m.namedParameters().map(([n, p]) => [n, p.value as Tensor]));
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { name: string; expected: number[]; got: number[] }[];
}

/**
 * Maps reference checkpoint keys onto this model's names (SPEC §5.5): strips `encoder.` /
 * `backbone.` (or a given prefix), drops positional tables (always recomputed), and converts the
 * attention bias between the two conventions (qkv.bias ⇄ q_bias + v_bias).
 */
export function mapReferenceKeys(tensors: Map<string, Tensor>, want: Set<string>, opts: { stripPrefixes?: string[] } = {}): Map<string, Tensor> {
  const prefixes = opts.stripPrefixes ?? ['encoder.', 'backbone.', 'module.'];
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
      const d = full.shape[0] / 3;
      out.set(`${m[1]}.q_bias`, full.slice(0, d));
      out.set(`${m[1]}.v_bias`, full.slice(2 * d, 3 * d));
      out.delete(k);
    }
    const q = /^(.*\.attn)\.q_bias$/.exec(k);
    if (q && !want.has(k) && want.has(`${q[1]}.qkv.bias`)) {
      const qb = out.get(k)!, vb = out.get(`${q[1]}.v_bias`);
      const d = qb.shape[0];
      const full = Tensor.zeros([3 * d]);
      full.slice(0, d).assign(qb as Tensor<'f32'>);
      if (vb) full.slice(2 * d, 3 * d).assign(vb as Tensor<'f32'>);
      out.set(`${q[1]}.qkv.bias`, full);
      out.delete(k);
      out.delete(`${q[1]}.v_bias`);
    }
  }
  return out;
}

/** Copies matching tensors into the module's parameters; reports what did not match. */
export function loadStateDict(m: Module, tensors: Map<string, Tensor>, opts: { strict?: boolean; mapKeys?: boolean } = {}): LoadReport {
  // Packed copies of the old weights would go stale (Module.packWeights).
  m.unpackWeights();
  const named = m.namedParameters();
  const want = new Set(named.map(([n]) => n));
  const src = opts.mapKeys === false ? tensors : mapReferenceKeys(tensors, want);
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  for (const [name, p] of named) {
    const t = src.get(name);
    if (!t) {
      if (p.trainable) report.missing.push(name);
      continue;
    }
    if (t.numel !== p.value.numel || t.dtype !== 'f32') {
      report.mismatched.push({ name, expected: [...p.value.shape], got: [...t.shape] });
      continue;
    }
    p.value.assign(t as Tensor<'f32'>);
    report.loaded.push(name);
  }
  for (const k of src.keys()) if (!want.has(k)) report.unexpected.push(k);
  if (opts.strict && (report.missing.length || report.unexpected.length || report.mismatched.length))
    throw new ShapeError(`checkpoint does not match the model: ${report.missing.length} missing (${report.missing.slice(0, 5).join(', ')}), ` +
      `${report.unexpected.length} unexpected (${report.unexpected.slice(0, 5).join(', ')}), ${report.mismatched.length} with other shapes` +
      (report.mismatched[0] ? ` (${report.mismatched[0].name}: ${report.mismatched[0].got} vs ${report.mismatched[0].expected})` : ''), { op: 'loadStateDict' });
  return report;
}

export async function saveWeights(path: string, m: Module, metadata: Record<string, string> = {}): Promise<void> {
  await saveSafetensors(path, stateDict(m), metadata);
}

export async function loadWeights(path: string, m: Module, opts: { strict?: boolean; mapKeys?: boolean } = {}): Promise<LoadReport> {
  const { tensors } = await loadSafetensors(path);
  try {
    return loadStateDict(m, tensors, opts);
  } finally {
    // assign() is queued with its own references, so the loaded copies can go now.
    for (const t of tensors.values()) t.dispose();
  }
}
