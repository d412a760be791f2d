// One op through an installed mvd, shared by the ESM and CommonJS entry scripts beside it: a small
// GEMM against values worked out by hand, and proof from /proc/self/maps that the addon and its
// oneDNN came from the package's prebuilds/ (not a build/ folder, not the system's libdnnl).
'use strict';
const { readFileSync, mkdtempSync, rmSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');

async function check(mvd, how, entry, expected) {
  if (!entry.endsWith(expected)) throw new Error(`${how}: mvd resolved to ${entry}, expected .../${expected}`);
  const a = mvd.Tensor.fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const w = mvd.Tensor.fromArray(new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1]), [4, 3]);
  const y = mvd.gemm(a, w, { transB: true });
  const got = Array.from(await y.toArray());
  for (const t of [a, w, y]) t.dispose();
  const want = [1, 2, 3, 6, 4, 5, 6, 15];
  if (got.length !== want.length || got.some((v, i) => v !== want[i])) {
    throw new Error(`${how}: gemm gave [${got}], expected [${want}]`);
  }
  const maps = readFileSync('/proc/self/maps', 'utf8');
  const mapped = (name) => [...new Set(maps.split('\n').map((l) => l.split(/\s+/)[5]).filter((p) => p && p.endsWith(name)))];
  const addonFiles = mapped('.node').filter((p) => p.includes('/mvd/'));
  if (addonFiles.length !== 1 || !addonFiles[0].includes('/node_modules/mvd/prebuilds/')) {
    throw new Error(`${how}: expected one addon from node_modules/mvd/prebuilds/, mapped: ${addonFiles.join(', ') || 'none'}`);
  }
  const dnnl = mapped('libdnnl.so.2');
  if (mvd.buildInfo().gemmBackend === 'onednn' && (dnnl.length !== 1 || !dnnl[0].includes('/node_modules/mvd/prebuilds/'))) {
    throw new Error(`${how}: oneDNN should come from the package, mapped: ${dnnl.join(', ') || 'none'}`);
  }
  console.log(`${how}: ok: ${entry} -> gemm [${got}]; addon ${addonFiles[0]}; gemm backend ${mvd.buildInfo().gemmBackend}`);
}

// The embedding API as a user calls it: save a small encoder (its file carries its model card),
// load it back by path alone, embed a real video with 2 clips × 3 crops.
async function embedCheck(mvd, how, video) {
  const dir = mkdtempSync(join(tmpdir(), 'mvd-smoke-'));
  try {
    const enc = new mvd.VisionTransformer(mvd.videoVit('tiny', { depth: 1, frames: 4, size: 32 }), { finalNorm: true, seed: 1 });
    const path = join(dir, 'encoder.safetensors');
    await mvd.saveSafetensors(path, mvd.stateDict(enc), mvd.modelCardMetadata(mvd.modelCardOf(enc)));
    enc.dispose();
    const e = await mvd.loadEncoder(path);
    const r = await e.embed(video, { clips: 2, crops: 3 });
    e.dispose();
    if (r.shape.join() !== '6,8,128' || r.tokens.length !== 6 * 8 * 128 || r.pooled.length !== 128 || !r.tokens.every(Number.isFinite)) {
      throw new Error(`${how}: embed gave shape [${r.shape}] (${r.tokens.length} token values, ${r.pooled.length} pooled), expected [6,8,128], all finite`);
    }
    console.log(`${how}: ok: loadEncoder + embed(${video}) -> [${r.shape}]`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { check, embedCheck };
