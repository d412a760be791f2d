// Every op family through the addon on cuda:0 against the same op on the CPU: the bindings'
// device dispatch, the launchers, scratch and read-back, end to end (the emulated addon in CI, a
// real GPU under npm run test:gpu). The kernels' own float64 and schedule checks are the native
// tests (native/tests/test_cuda_*.cc); this file checks that the addon wires them up.
import { fileURLToPath } from 'node:url';
import { childChecks, isCudaChild, runInCudaChild } from './helpers/cuda-child.js';

const here = fileURLToPath(import.meta.url);

async function child(): Promise<void> {
  const lib = await import('../lib/index.js');
  const { Tensor } = lib;
  type T = import('../lib/tensor.js').Tensor;
  const dev = 'cuda:0';
  await childChecks(async (check) => {
    let seed = 1;
    const rand = (shape: number[], s = 1) => lib.randomFill(Tensor.empty(shape), { dist: 'normal', std: s }, seed++, 0);
    // max |a − b| / (1 + |b|) between the CUDA result (read back) and the CPU result.
    const compare = async (name: string, gpu: T | null, cpu: T | null, tol: number) => {
      if (!gpu || !cpu) {
        check(name, gpu === cpu, 'one side returned null');
        return;
      }
      const a = await gpu.toArray(),
        b = await cpu.toArray();
      let err = a.length === b.length ? 0 : Infinity;
      for (let i = 0; i < b.length && err < Infinity; i++) {
        const e = Math.abs(Number(a[i]) - Number(b[i])) / (1 + Math.abs(Number(b[i])));
        err = Number.isNaN(e) ? Infinity : Math.max(err, e);
      }
      check(`${name}: cuda vs cpu`, gpu.device === dev && err <= tol, `device ${gpu.device}, max rel err ${err} (tol ${tol})`);
    };
    const up = (t: T) => t.to(dev);
    const F32 = 1e-5; // fp32 kernels: reduction order only
    // GEMM/attention stage operands in bf16 (2^-9 relative each): over K = 48 unit-variance terms the
    // worst element of ~1500 is off by ~0.03–0.05 relative; a wrong kernel is off by ~1.
    const BF16 = 8e-2;

    // GEMM (transposed weight, bias, GELU epilogue) and fused attention forward/backward.
    {
      const a = rand([37, 48]),
        w = rand([40, 48]),
        b = rand([40]);
      await compare('gemm + bias', lib.gemm(up(a), up(w), { transB: true, bias: up(b) }), lib.gemm(a, w, { transB: true, bias: b }), BF16);
      const g = lib.gemm(up(a), up(w), { transB: true, bias: up(b), gelu: true }),
        c = lib.gemm(a, w, { transB: true, bias: b, gelu: true });
      await compare('gemm gelu epilogue: pre-activation', g.out, c.out, BF16);
      await compare('gemm gelu epilogue: gelu', g.gelu, c.gelu, BF16);
      const qkv = rand([1, 33, 3 * 128]),
        dOut = rand([1, 33, 128]);
      const fg = lib.attentionForward(up(qkv), 2),
        fc = lib.attentionForward(qkv, 2);
      await compare('attention forward', fg.out, fc.out, BF16);
      await compare('attention lse', fg.lse, fc.lse, BF16);
      await compare(
        'attention backward',
        lib.attentionBackward(up(dOut), up(qkv), fg.out, fg.lse, 2),
        lib.attentionBackward(dOut, qkv, fc.out, fc.lse, 2),
        BF16,
      );
    }
    // LayerNorm, element-wise, reductions.
    {
      const x = rand([31, 64], 2),
        dy = rand([31, 64]),
        w = rand([64]),
        b = rand([64]);
      const fg = lib.layerNormForward(up(x), up(w), up(b), 1e-6),
        fc = lib.layerNormForward(x, w, b, 1e-6);
      await compare('layerNorm forward', fg.y, fc.y, F32);
      const bg = lib.layerNormBackward(up(dy), up(x), fg.mean, fg.rstd, up(w)),
        bc = lib.layerNormBackward(dy, x, fc.mean, fc.rstd, w);
      await compare('layerNorm backward dx', bg.dx, bc.dx, F32);
      await compare('layerNorm backward dWeight', bg.dWeight, bc.dWeight, F32);
      const r = rand([31, 64]),
        ds = rand([31, 64]);
      const ag = lib.addLayerNormForward(up(x), up(r), up(w), up(b), 1e-6),
        ac = lib.addLayerNormForward(x, r, w, b, 1e-6);
      await compare('addLayerNorm sum', ag.sum, ac.sum, 0);
      await compare('addLayerNorm forward', ag.y, ac.y, F32);
      await compare(
        'layerNorm backward with dResidual',
        lib.layerNormBackward(up(dy), ag.sum, ag.mean, ag.rstd, up(w), up(ds)).dx,
        lib.layerNormBackward(dy, ac.sum, ac.mean, ac.rstd, w, ds).dx,
        F32,
      );
      // Packing is CPU-only: a CUDA weight gets no pack, and its products run as before.
      check('gemmPackWeights on cuda:0 gives null', lib.gemmPackWeights(up(w.reshape([8, 8])), { transB: true }) === null, 'not null');
      await compare('gelu', lib.gelu(up(x)), lib.gelu(x), F32);
      await compare('gelu backward', lib.geluBackward(up(dy), up(x)), lib.geluBackward(dy, x), F32);
      await compare('addBroadcast', lib.addBroadcast(up(x), up(w)), lib.addBroadcast(x, w), F32);
      await compare('sumRows', lib.sumRows(up(x)), lib.sumRows(x), F32);
      const dg = lib.dropout(up(x), 0.3, 7),
        dc = lib.dropout(x, 0.3, 7);
      await compare('dropout (same counter-based mask)', dg.y, dc.y, 0);
    }
    // The dual-teacher loss, cross-entropy, AdamW, gradient norm.
    {
      const p1 = rand([2, 9, 16]),
        t1 = rand([2, 9, 16]),
        p2 = rand([2, 9, 16]),
        t2 = rand([2, 9, 16]);
      const lg = lib.distillLoss(up(p1), up(t1), up(p2), up(t2), { kind: 'smoothl1', wImg: 0.5, wVid: 1 });
      const lc = lib.distillLoss(p1, t1, p2, t2, { kind: 'smoothl1', wImg: 0.5, wVid: 1 });
      await compare('distillLoss values', lg.loss, lc.loss, F32);
      await compare('distillLoss dPredImg', lg.dPredImg, lc.dPredImg, F32);
      const logits = rand([5, 7], 3),
        labels = Tensor.fromArray(Int32Array.from([0, 6, 3, 3, 1]), [5]);
      const xg = lib.crossEntropy(up(logits), up(labels), { labelSmoothing: 0.1 }),
        xc = lib.crossEntropy(logits, labels, { labelSmoothing: 0.1 });
      await compare('crossEntropy loss', xg.loss, xc.loss, F32);
      await compare('crossEntropy dLogits', xg.dLogits, xc.dLogits, F32);
      const ps = [rand([33]), rand([7, 5])],
        gs = [rand([33]), rand([7, 5])];
      const mk = () => ps.map((p) => Tensor.zeros(p.shape));
      const pg = ps.map(up),
        gg = gs.map(up),
        mg = mk().map(up),
        vg = mk().map(up);
      const pc = ps.map((p) => p.clone()),
        mc = mk(),
        vc = mk();
      const o = { lr: [1e-2, 2e-2], weightDecay: [0.05, 0], beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 };
      lib.adamw(pg, gg, mg, vg, o);
      lib.adamw(pc, gs, mc, vc, o);
      for (let i = 0; i < ps.length; i++) await compare(`adamw param ${i}`, pg[i], pc[i], F32);
      await compare('gradNorm', lib.gradNorm(gg), lib.gradNorm(gs), F32);
    }
    // Tokens, tables, targets, frames.
    {
      const video = rand([1, 3, 4, 32, 32]);
      await compare('patchify', lib.patchify(up(video), 2, 16, 16), lib.patchify(video, 2, 16, 16), F32);
      const toks = rand([2, 8, 12]),
        idx = Tensor.fromArray(Int32Array.from([7, 0, 3, 1, 2, 6]), [2, 3]);
      await compare('gatherTokens', lib.gatherTokens(up(toks), up(idx)), lib.gatherTokens(toks, idx), 0);
      const dyt = rand([2, 3, 12]);
      await compare('scatterTokens (same input)', lib.scatterTokens(up(dyt), up(idx), 8), lib.scatterTokens(dyt, idx, 8), 0);
      await compare('sincos3dTable', lib.sincos3dTable(32, 2, 3, 3, { device: dev }), lib.sincos3dTable(32, 2, 3, 3), F32);
      await compare(
        'videomaePixelTarget',
        lib.videomaePixelTarget(up(video), {
          mean: [0.485, 0.456, 0.406],
          std: [0.229, 0.224, 0.225],
          tubelet: 2,
          patch: 16,
          normalize: true,
        }),
        lib.videomaePixelTarget(video, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], tubelet: 2, patch: 16, normalize: true }),
        F32,
      );
      const u8 = Tensor.fromArray(
        Uint8Array.from({ length: 2 * 9 * 11 * 3 }, (_, i) => (i * 37) % 256),
        [2, 9, 11, 3],
      );
      await compare(
        'resizeCrop',
        lib.resizeCrop(up(u8), { x: 1, y: 2, w: 8, h: 6 }, 5, 7),
        lib.resizeCrop(u8, { x: 1, y: 2, w: 8, h: 6 }, 5, 7),
        0,
      );
      await compare(
        'framesToClip',
        lib.framesToClip(up(u8), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        lib.framesToClip(u8, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        F32,
      );
      const rg = lib.randomFill(Tensor.empty([1000], { device: dev }), { dist: 'normal', std: 1 }, 5, 2);
      await compare(
        'randomFill (same counter-based stream)',
        rg,
        lib.randomFill(Tensor.empty([1000]), { dist: 'normal', std: 1 }, 5, 2),
        1e-6,
      );
    }
  });
}

if (isCudaChild) await child();
else await runInCudaChild(here, 'every op family on cuda:0 matches the CPU op', 600_000);
