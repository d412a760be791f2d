#!/usr/bin/env python3
"""In-process ViT encoder forward in PyTorch (no grad, eval), written from SPEC.md for the side-by-side
extract benchmark (`mvd bench extract`): one clip [1,3,T,S,S], tubelet 2, patch 16, 3D sin-cos table,
final norm. Prints one JSON line: median forward seconds over --runs after --warmup.

usage: torch_forward.py --preset base --frames 16 --size 224 --runs 3 --warmup 1 --threads 2
"""
import argparse, json, time
import torch
from torch_ref import SIZES, Encoder, table3d


def main():
    ap = argparse.ArgumentParser()
    for k, v in dict(preset="base", frames=16, size=224, runs=3, warmup=1, threads=0).items():
        ap.add_argument("--" + k, type=type(v), default=v)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d, depth, h = SIZES[a.preset]
    t, g = a.frames // 2, a.size // 16
    enc = Encoder(d, depth, h, 2, 16, t * g * g).eval()
    enc.pos = table3d(d, t, g, g)
    clip = torch.randn(1, 3, a.frames, a.size, a.size)
    times = []
    with torch.no_grad():
        for i in range(a.warmup + a.runs):
            t0 = time.perf_counter()
            x = enc.embed(clip)
            for blk in enc.blocks:
                x = blk(x)
            x = enc.norm(x)
            if i >= a.warmup:
                times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"forward_s": times[len(times) // 2], "runs": len(times), "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
