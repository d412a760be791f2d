#!/usr/bin/env python3
"""The MVD training step in PyTorch, written from SPEC.md for side-by-side benchmarks (not the
reference repository's code): student ViT with tube masking and two feature decoders, an MAE
image teacher on frames 0,2,.. and a VideoMAE video teacher on the full clip (pre-final-norm
targets, frozen), SmoothL1 on masked tokens, AdamW(0.9, 0.95). Prints one JSON line.

usage: torch_ref.py --student small --teacher base --frames 16 --size 112 --batch 2 --steps 5 --warmup 1
"""
import argparse, json, math, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZES = {"tiny": (128, 4, 2), "small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16), "huge": (1280, 32, 16)}
DEC = {"tiny": (128, 1, 2), "small": (384, 2, 6), "base": (768, 2, 12), "large": (512, 4, 8), "huge": (640, 8, 8)}


class Attn(nn.Module):
    def __init__(self, d, h, full_bias):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d, bias=full_bias)
        self.q_bias = None if full_bias else nn.Parameter(torch.zeros(d))
        self.v_bias = None if full_bias else nn.Parameter(torch.zeros(d))
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        bias = None if self.q_bias is None else torch.cat([self.q_bias, torch.zeros_like(self.q_bias), self.v_bias])
        qkv = F.linear(x, self.qkv.weight, bias if bias is not None else self.qkv.bias)
        q, k, v = qkv.reshape(b, n, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        a = ((q * (d // self.h) ** -0.5) @ k.transpose(-2, -1)).softmax(-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, d, h, full_bias=False):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d, eps=1e-6), nn.LayerNorm(d, eps=1e-6)
        self.attn = Attn(d, h, full_bias)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def sincos_1d(d, pos):
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
    out = pos.double()[:, None] * omega[None]
    return torch.cat([out.sin(), out.cos()], 1)


def table3d(d, t, h, w):
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat([sincos_1d(d // 4, tt.flatten()), sincos_1d(3 * d // 8, ww.flatten()), sincos_1d(3 * d // 8, hh.flatten())], 1).float()


class Encoder(nn.Module):
    def __init__(self, d, depth, h, tubelet, patch, tokens, cls=False, full_bias=False):
        super().__init__()
        self.tubelet, self.patch = tubelet, patch
        self.proj = nn.Conv3d(3, d, (tubelet, patch, patch), (tubelet, patch, patch)) if tubelet > 1 else nn.Conv2d(3, d, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, d)) if cls else None
        self.register_buffer("pos", torch.randn(tokens, d) * 0.02)
        self.blocks = nn.ModuleList([Block(d, h, full_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)

    def embed(self, x):
        return self.proj(x).flatten(2).transpose(1, 2) + self.pos


class Decoder(nn.Module):
    def __init__(self, d_in, dd, depth, h, out, grid):
        super().__init__()
        self.down = nn.Linear(d_in, dd)
        self.mask = nn.Parameter(torch.zeros(1, 1, dd))
        self.register_buffer("pos", table3d(dd, *grid))
        self.blocks = nn.ModuleList([Block(dd, h) for _ in range(depth)])
        self.norm, self.head = nn.LayerNorm(dd, eps=1e-6), nn.Linear(dd, out)

    def forward(self, x, vis, msk):
        b = x.shape[0]
        x = self.down(x) + self.pos[vis]
        m = self.mask.expand(b, msk.shape[1], -1) + self.pos[msk]
        x = torch.cat([x, m], 1)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x[:, -msk.shape[1]:]))


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(student="small", teacher="base", frames=16, size=112, batch=2, steps=5, warmup=1, threads=0, mask_ratio=0.9, teacher_autocast=0).items():
        ap.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t, g = a.frames // 2, a.size // 16
    n = t * g * g
    ds, dep, hs = SIZES[a.student]
    dt, dept, ht = SIZES[a.teacher]
    student = Encoder(ds, dep, hs, 2, 16, n)
    student.pos = table3d(ds, t, g, g)
    dd, ddep, dh = DEC[a.student]
    decs = nn.ModuleList([Decoder(ds, dd, ddep, dh, dt, (t, g, g)) for _ in range(2)])
    img_t = Encoder(dt, dept, ht, 1, 16, g * g + 1, cls=True, full_bias=True).eval()
    vid_t = Encoder(dt, dept, ht, 2, 16, n).eval()
    params = list(student.parameters()) + list(decs.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    keep = g * g - int(a.mask_ratio * g * g)
    times, stages = [], dict(data=0.0, teachers=0.0, student=0.0, optimizer=0.0)
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        video = torch.randn(a.batch, 3, a.frames, a.size, a.size)
        vis_l, msk_l = [], []
        for _ in range(a.batch):
            perm = torch.randperm(g * g)
            s_vis, s_msk = perm[:keep].sort().values, perm[keep:].sort().values
            vis_l.append((torch.arange(t)[:, None] * g * g + s_vis[None]).flatten())
            msk_l.append((torch.arange(t)[:, None] * g * g + s_msk[None]).flatten())
        vis, msk = torch.stack(vis_l), torch.stack(msk_l)
        t1 = time.perf_counter()
        # bf16 autocast on the teachers alone: what the reference's mixed precision gives frozen teachers.
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(a.teacher_autocast)):
            frames = video[:, :, 0::2].transpose(1, 2).reshape(-1, 3, a.size, a.size)
            x = img_t.proj(frames).flatten(2).transpose(1, 2)
            x = torch.cat([img_t.cls.expand(x.shape[0], -1, -1), x], 1) + img_t.pos
            for blk in img_t.blocks:
                x = blk(x)
            f_img = x[:, 1:].reshape(a.batch, -1, dt)
            x = vid_t.embed(video)
            for blk in vid_t.blocks:
                x = blk(x)
            f_vid = x
            bi = torch.arange(a.batch)[:, None]
            tgt_img, tgt_vid = f_img[bi, msk].float(), f_vid[bi, msk].float()
        t2 = time.perf_counter()
        x = student.embed(video)
        x = x[torch.arange(a.batch)[:, None], vis]
        for blk in student.blocks:
            x = blk(x)
        x = student.norm(x)
        loss = F.smooth_l1_loss(decs[0](x, vis, msk), tgt_img) + F.smooth_l1_loss(decs[1](x, vis, msk), tgt_vid)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if i >= a.warmup:
            times.append(t4 - t0)
            for k, d in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[k] += d
    tot = sum(stages.values())
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps(dict(impl="torch", torch=torch.__version__, threads=torch.get_num_threads(), clips_per_s=a.batch / med, step_s_median=med,
                          step_s_min=times[0], step_s_max=times[-1], peak_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                          stages={k: v / tot for k, v in stages.items()}, teacher_autocast=bool(a.teacher_autocast))))


if __name__ == "__main__":
    main()
