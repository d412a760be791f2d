#!/usr/bin/env python3
"""The ops of `mvd bench kernels` in PyTorch (autograd where a backward is timed), same shapes.
Prints JSON {op: median_ms}. Written here for side-by-side timing, not taken from elsewhere.

Gradients are taken with torch.autograd.grad, which returns fresh tensors as our backward ops do.
`.backward()` on a leaf would also add each gradient into the leaf's `.grad` after the first run,
an extra read-modify-write pass per input that our side does not do (measured: 1-5 ms of
PyTorch's LayerNorm and GELU times here; bench/NOTES.md, session 7)."""
import json, sys, time
import torch
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
quick = len(sys.argv) > 2 and sys.argv[2] == "quick"


def timeit(fn, min_s=0.4):
    fn()
    ts, t_end = [], time.perf_counter() + min_s
    while len(ts) < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    ts.sort()
    return 1000 * ts[len(ts) // 2]


out = {}
for n in ([160] if quick else [160, 1568]):
    qkv = torch.randn(1, n, 3 * 768)
    def fwd(qkv=qkv, n=n):
        q, k, v = qkv.reshape(1, n, 3, 12, 64).permute(2, 0, 3, 1, 4)
        return ((q * 0.125) @ k.transpose(-2, -1)).softmax(-1) @ v
    out[f"attention fwd|{n}"] = timeit(lambda: fwd())
    x = qkv.clone().requires_grad_(True)
    g = torch.randn(1, 12, n, 64)
    def fb():
        torch.autograd.grad(fwd(x), (x,), g)
    out[f"attention fwd+bwd|{n}"] = timeit(fb)
x = torch.randn(3136, 768, requires_grad=True); w = torch.ones(768, requires_grad=True); b = torch.zeros(768, requires_grad=True); dy = torch.randn(3136, 768)
out["layernorm fwd+bwd"] = timeit(lambda: torch.autograd.grad(F.layer_norm(x, (768,), w, b, 1e-6), (x, w, b), dy))
a = torch.randn(3136, 768, requires_grad=True); dres = torch.randn(3136, 768)
def residual_ln():
    # A pre-norm block's residual add and the norm after it; x1 feeds both the norm and the skip
    # connection, so autograd sums the norm's dx with the skip's gradient dres.
    x1 = x + a
    h = F.layer_norm(x1, (768,), w, b, 1e-6)
    torch.autograd.grad((h, x1), (x, a, w, b), (dy, dres))
out["residual add + layernorm fwd+bwd"] = timeit(residual_ln)
x2 = torch.randn(3136, 3072, requires_grad=True); dy2 = torch.randn(3136, 3072)
out["gelu fwd+bwd"] = timeit(lambda: torch.autograd.grad(F.gelu(x2), (x2,), dy2))
p1, p2 = torch.randn(2, 1408, 768, requires_grad=True), torch.randn(2, 1408, 768, requires_grad=True)
t1, t2 = torch.randn(2, 1408, 768), torch.randn(2, 1408, 768)
out["distill loss (2 teachers)"] = timeit(lambda: torch.autograd.grad(F.smooth_l1_loss(p1, t1) + F.smooth_l1_loss(p2, t2), (p1, p2)))
v = torch.randn(2, 3, 16, 224, 224)
out["patchify"] = timeit(lambda: v.reshape(2, 3, 8, 2, 14, 16, 14, 16).permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(2, 1568, 1536).contiguous())
tok = torch.randn(2, 1568, 768); idx = (torch.arange(160) * 9).expand(2, 160)
out["gather tokens"] = timeit(lambda: tok[torch.arange(2)[:, None], idx])
if not quick:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out["matmul"] = timeit(lambda: a @ b)
print(json.dumps(out))
