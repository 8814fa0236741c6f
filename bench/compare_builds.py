#!/usr/bin/python3
"""Two heed binaries timed alternately in one run: the portable default build (runtime SIMD
dispatch) against a -march=native build, on the benchmarks issue 11 names.

    cmake -S . -B build-native -DHEED_NATIVE=ON -DHEED_BUILD_TESTS=OFF -DHEED_BUILD_BENCH=OFF
    cmake --build build-native --target heed_cli
    /usr/bin/python3 bench/compare_builds.py build/heed build-native/heed [--rounds 5]

`--env HEED_SIMD=AVX2 --env ONEDNN_MAX_CPU_ISA=AVX2` runs both binaries as on an AVX2 CPU (the
"native" side then being, say, a -march=x86-64-v3 build): how the portable binary fares on
machines unlike the one at hand.

Each round runs every case once with each binary (the order alternating between rounds), so
machine noise falls on both; the ratio portable / native is taken within a round and the median
over rounds reported, with the sgemm GFLOP/s of the portable build measured in the same run as
the hardware reference. Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess

ATTENTION = [(seq, causal, backward) for seq in (1024, 4096) for backward in (False, True)
             for causal in (False, True)]
VIT = ["configs/vit-fashion-mnist.json", "configs/vit-fashion-mnist-long.json"]


ENV = dict(os.environ)


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=ENV).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError:  # one JSON object per line: the last one
        return json.loads(out.strip().splitlines()[-1])


def attention(binary, seq, causal, backward):
    cmd = [binary, "bench", "attention", "--batch", "1", "--heads", "8", "--seq", str(seq),
           "--head-dim", "64", "--reps", "5" if seq >= 4096 else "20", "--json"]
    if causal:
        cmd.append("--causal")
    if backward:
        cmd.append("--backward")
    return run_json(cmd)["median_ms"]


def vit(binary, config):
    r = run_json([binary, "bench", "vit", "--config", config, "--steps", "10", "--json"])
    return r["train_images_per_s"], r["infer_images_per_s"]


def sgemm(binary):
    r = run_json([binary, "bench", "gemm", "--sizes", "1024", "--json"])
    return max(x["gflops"] for x in r["results"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("portable")
    ap.add_argument("native")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment for both binaries (repeatable)")
    args = ap.parse_args()
    for kv in args.env:
        key, _, value = kv.partition("=")
        ENV[key] = value
    for b in (args.portable, args.native):
        lines = subprocess.run([b, "info"], capture_output=True, text=True, env=ENV).stdout.splitlines()
        print(f"# {b}: {lines[1]}; {lines[2]}")
    ratios = {}  # case -> list of portable/native speed ratios (> 1: portable faster)
    values = {}
    gflops = []
    for r in range(args.rounds):
        order = [args.portable, args.native] if r % 2 == 0 else [args.native, args.portable]
        gflops.append(sgemm(args.portable))
        for seq, causal, backward in ATTENTION:
            name = f"attention N={seq} {'causal' if causal else 'full'} {'fwd+bwd' if backward else 'fwd'}"
            ms = {b: attention(b, seq, causal, backward) for b in order}
            ratios.setdefault(name, []).append(ms[args.native] / ms[args.portable])
            values.setdefault(name, []).append((ms[args.portable], ms[args.native]))
        for config in VIT:
            ips = {b: vit(b, config) for b in order}
            for k, what in enumerate(("train", "inference")):
                name = f"vit {config.split('/')[-1]} {what}"
                ratios.setdefault(name, []).append(ips[args.portable][k] / ips[args.native][k])
                values.setdefault(name, []).append((ips[args.portable][k], ips[args.native][k]))
        print(f"# round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nsgemm 1024^3 (portable build, same run): {statistics.median(gflops):.0f} GFLOP/s\n")
    print("| case | portable | native | portable / native speed (median, range) |")
    print("|---|---:|---:|---:|")
    for name, rs in ratios.items():
        unit = "ms" if name.startswith("attention") else "img/s"
        p = statistics.median(v[0] for v in values[name])
        n = statistics.median(v[1] for v in values[name])
        print(f"| {name} | {p:.1f} {unit} | {n:.1f} {unit} | {statistics.median(rs):.3f} "
              f"({min(rs):.3f}-{max(rs):.3f}) |")


if __name__ == "__main__":
    main()
