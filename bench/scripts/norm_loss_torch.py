#!/usr/bin/env python3
"""PyTorch side of bench/scripts/norm-loss.mjs: the same workloads through autograd, printed as one
JSON line {workload: [median_ms, min_ms]}. Gradients come from torch.autograd.grad (fresh tensors,
as mvd's backward ops return). Usage: norm_loss_torch.py THREADS RUNS"""
import json, sys, time
import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]))
runs = int(sys.argv[2])


def timeit(fn, warmup=10):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter(); fn(); ts.append(1000 * (time.perf_counter() - t0))
    ts.sort()
    return [ts[len(ts) // 2], ts[0]]


out = {}
for rows, d in [(3136, 768), (320, 384)]:
    x = torch.randn(rows, d, requires_grad=True); w = torch.ones(d, requires_grad=True); b = torch.zeros(d, requires_grad=True); dy = torch.randn(rows, d)
    out[f"layernorm fwd+bwd [{rows},{d}]"] = timeit(lambda: torch.autograd.grad(F.layer_norm(x, (d,), w, b, 1e-6), (x, w, b), dy))
for rows, d in [(3136, 3072), (320, 1536)]:
    x = torch.randn(rows, d, requires_grad=True); dy = torch.randn(rows, d)
    out[f"gelu fwd+bwd [{rows},{d}]"] = timeit(lambda: torch.autograd.grad(F.gelu(x), (x,), dy))
for d in [768, 384]:
    p1, p2 = torch.randn(2, 1408, d, requires_grad=True), torch.randn(2, 1408, d, requires_grad=True)
    t1, t2 = torch.randn(2, 1408, d), torch.randn(2, 1408, d)
    out[f"distill smoothl1 2 pairs [2,1408,{d}]"] = timeit(lambda: torch.autograd.grad(F.smooth_l1_loss(p1, t1) + F.smooth_l1_loss(p2, t2), (p1, p2)))
# ViT-S blocks: 12 × (2 norms, qkv, proj, fc1, fc2; weight and bias each); decay on matrices only.
shapes = [s for _ in range(12) for s in [(384,), (384,), (1152, 384), (1152,), (384, 384), (384,), (384,), (384,), (1536, 384), (1536,), (384, 1536), (384,)]]
params = [torch.randn(*s, requires_grad=True) for s in shapes]
for p in params:
    p.grad = torch.randn_like(p)
opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() > 1], "weight_decay": 0.05},
                         {"params": [p for p in params if p.dim() == 1], "weight_decay": 0.0}], lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
out["adamw ViT-S blocks (144 tensors, 21.3M)"] = timeit(opt.step)
x = torch.randn(3136, 768)
out["alloc probe: 2 live [3136,768] outputs"] = timeit(lambda: (x * 2, x * 3))
print(json.dumps(out))
