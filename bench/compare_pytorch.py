#!/usr/bin/python3
"""Side-by-side timing of heed against PyTorch (Debian's python3-torch) in the same run.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py attention [--seq 1024 4096] [--threads 2]

`attention`: PyTorch's composed form softmax(Q K^T / sqrt(d)) V (what a user writes by hand;
torch 1.13 has no fused CPU attention) against `heed bench attention --impl fused`, B=1, 8 heads,
d_head=64, forward and forward+backward. Prints the BLAS torch is using: run it with OpenBLAS
(the LD_LIBRARY_PATH above), since Debian's default netlib BLAS is ~10x slower and unfair.
"""
import argparse
import json
import os
import subprocess
import time

import torch


def torch_blas():
    """Which BLAS library the torch process has mapped (from /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return ", ".join(sorted(libs)) or "unknown"


def median_ms(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def torch_attention(seq, heads, dim, causal, backward, reps):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, heads, seq, dim, generator=g, requires_grad=backward) for _ in range(3))
    grad = torch.randn(1, heads, seq, dim, generator=g)
    mask = torch.full((seq, seq), float("-inf")).triu(1) if causal else None

    def run():
        s = q @ k.transpose(-1, -2) / dim ** 0.5
        if mask is not None:
            s = s + mask
        out = torch.softmax(s, dim=-1) @ v
        if backward:
            out.backward(grad)

    if backward:
        return median_ms(run, reps)
    with torch.no_grad():
        return median_ms(run, reps)


def heed_attention(heed, seq, heads, dim, causal, backward, reps, threads):
    cmd = [heed, "bench", "attention", "--seq", str(seq), "--heads", str(heads), "--head-dim",
           str(dim), "--reps", str(reps), "--threads", str(threads), "--json"]
    cmd += ["--causal"] if causal else []
    cmd += ["--backward"] if backward else []
    return json.loads(subprocess.check_output(cmd))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["attention"])
    parser.add_argument("--seq", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--heed", default=os.path.join(os.path.dirname(__file__), "..", "build", "heed"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {torch_blas()}")
    print(f"{'N':>6} {'causal':>6} {'pass':>8} {'torch ms':>10} {'heed ms':>10} {'speed-up':>9} "
          f"{'heed GFLOP/s':>13} {'heed extra MiB':>15}")
    for seq in args.seq:
        for causal in (False, True):
            for backward in (False, True):
                t = torch_attention(seq, args.heads, args.head_dim, causal, backward, args.reps)
                h = heed_attention(args.heed, seq, args.heads, args.head_dim, causal, backward,
                                   args.reps, args.threads)
                print(f"{seq:>6} {str(causal):>6} {'fwd+bwd' if backward else 'fwd':>8} {t:>10.1f} "
                      f"{h['median_ms']:>10.1f} {t / h['median_ms']:>8.2f}x {h['gflops']:>13.1f} "
                      f"{h['peak_extra_mib']:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
