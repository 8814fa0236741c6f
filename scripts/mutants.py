#!/usr/bin/python3
"""Planted bugs the test suite must catch (mutation testing, on demand; docs/testing.md).

    scripts/mutants.sh [--only ID ...] [--keep]

Copies the working tree (tracked and untracked, not ignored) to a scratch directory, builds it
once (Release, no benchmarks), checks that the unmutated suite passes, then for each mutant
below: replaces one exact piece of source text, rebuilds, runs the suite (the heed_tests binary
at the CPU's best SIMD target, stopping at the first failure) and restores the file. A mutant
is KILLED when the suite fails, SURVIVED when it passes (a hole in the tests: add one that
fails), INVALID when the text is not found exactly as often as expected or the mutant does not
compile (fix the list). Exits 1 unless every mutant is killed.

Each mutant is (id, file, old text, new text, what it simulates); `old` must occur in the file,
and the first occurrence is replaced unless the id ends in @N (the N-th, from 1). Grow the list
with every new module: a kernel, an op, an optimiser step, a reader, a CLI command.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.environ.get("HEED_MUTANTS_DIR", "/tmp/heed-mutants")

MUTANTS = [
    # ---- kernels
    ("attention-scale", "src/heed/kernels/attention.cpp",
     "const float scale = 1.0f / std::sqrt(float(D));", "const float scale = 1.01f / std::sqrt(float(D));",
     "fused attention forward: logit scale 1% off"),
    ("attention-causal-late", "src/heed/kernels/attention.cpp",
     "if (m.causal) hi = std::min(hi, pos + 1);", "if (m.causal) hi = std::min(hi, pos + 2);",
     "causal mask applied one position late (each query sees the next key)"),
    ("attention-online-rescale", "src/heed/kernels/attention_tiles.cpp",
     "hn::StoreU(hn::MulAdd(hn::LoadU(d, row_sum + i), scale, sum), d, row_sum + i);",
     "hn::StoreU(hn::Add(hn::LoadU(d, row_sum + i), sum), d, row_sum + i);",
     "online softmax: running sum not rescaled when the max grows (several key tiles)"),
    ("softmax-no-row-max", "src/heed/kernels/softmax.cpp",
     "const float inv = 1.0f / exp_shifted(xr, m, yr, cols);",
     "const float inv = 1.0f / exp_shifted(xr, 0.f, yr, cols);",
     "softmax without subtracting the row max"),
    ("layernorm-no-eps", "src/heed/kernels/layer_norm.cpp",
     "const float rs = 1.0f / std::sqrt(var + eps);", "const float rs = 1.0f / std::sqrt(var + 0.f * eps);",
     "LayerNorm without eps"),
    ("gelu-grad-1pct", "src/heed/kernels/elementwise.cpp",
     "const V pdf = hn::Mul(hn::Set(d, kInvSqrt2Pi),", "const V pdf = hn::Mul(hn::Set(d, 1.01f * kInvSqrt2Pi),",
     "a gradient constant 1% off (GELU's backward)"),
    ("smoothing-denominator", "src/heed/kernels/cross_entropy.cpp",
     "const float uniform = smoothing / float(classes);",
     "const float uniform = smoothing / float(classes - 1);",
     "label smoothing spread over C - 1 classes in the backward"),
    ("dropout-no-rescale", "src/heed/kernels/gather.cpp",
     "const float keep_scale = 1.0f / (1.0f - p);", "const float keep_scale = 1.0f;",
     "inverted dropout without the 1 / (1 - p) scale (forward)"),
    ("embedding-grad-overwrites", "src/heed/kernels/gather.cpp",
     "for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];",
     "for (int64_t c = c0; c < c1; ++c) dst[c] = src[c];",
     "embedding backward: repeated ids overwrite instead of accumulating"),
    # ---- ops
    ("linear-no-bias-grad", "src/heed/ops/linear.cpp",
     "kernels::sum_rows(gy.f32(), rows, out, 1.f, gx[2]->f32());",
     "kernels::sum_rows(gy.f32(), 0, out, 1.f, gx[2]->f32());",
     "linear: the bias gradient dropped"),
    # ---- optim
    ("adamw-no-bias-correction", "src/heed/optim/adamw.cpp",
     ".neg_step_size = float(-lr / bias_correction1),", ".neg_step_size = float(-lr / (0.0 * bias_correction1 + 1.0)),",
     "AdamW without the first moment's bias correction"),
    ("adamw-eps-inside-sqrt", "src/heed/kernels/optimizer_update.cpp",
     "const float denom = std::sqrt(vi) / c.bias_correction2_sqrt + c.eps;",
     "const float denom = std::sqrt(vi + c.eps) / c.bias_correction2_sqrt;",
     "AdamW's eps inside the square root"),
    ("clip-scales-up", "src/heed/optim/clip.cpp",
     "if (std::isfinite(norm) && coefficient < 1.0)", "if (std::isfinite(norm))",
     "gradient clipping also scales small gradients up"),
    ("warmup-off-by-one", "src/heed/optim/schedule.cpp",
     "return float(base * double(step + 1) / double(o.warmup_steps));",
     "return float(base * double(step) / double(o.warmup_steps));",
     "learning-rate warm-up one step behind"),
    # ---- data
    ("grey-swapped", "src/heed/data/image_file.cpp",
     "out[p] = 0.299f * in[p] + 0.587f * in[plane + p] + 0.114f * in[2 * plane + p];",
     "out[p] = 0.114f * in[p] + 0.587f * in[plane + p] + 0.299f * in[2 * plane + p];",
     "colour to grey with R and B swapped (what predict feeds the model)"),
    ("normalization-sample-std", "src/heed/data/loader.cpp",
     "std::sqrt(squares / count)", "std::sqrt(squares / (count - 1))",
     "normalisation with the sample (N - 1) standard deviation"),
    ("crop-range", "src/heed/data/loader.cpp",
     "bits % static_cast<uint64_t>(2 * pad + 1)", "bits % static_cast<uint64_t>(2 * pad)",
     "random crop never shifts by +pad"),
    # ---- io, metrics
    ("safetensors-overlap-unchecked", "src/heed/io/safetensors.cpp",
     "!previous || previous->end <= entry.begin", "!previous || previous->begin <= entry.begin",
     "safetensors: overlapping tensors accepted"),
    ("report-weighted-is-macro", "src/heed/metrics/classification.cpp",
     'r.weighted_avg = average(r.classes, "weighted avg", r.total, /*weighted=*/true);',
     'r.weighted_avg = average(r.classes, "weighted avg", r.total, /*weighted=*/false);',
     "classification report: weighted average computed unweighted"),
    # ---- train, CLI
    ("resume-skips-a-batch", "src/heed/train/trainer.cpp",
     "loader.start_epoch(state.epoch, state.batch);", "loader.start_epoch(state.epoch, state.batch + (state.batch > 0));",
     "resume mid-epoch skips one batch"),
    ("buckets-unsorted", "src/heed/train/batch_loader.cpp",
     "[&](int64_t a, int64_t b) { return lengths_[size_t(a)] < lengths_[size_t(b)]; });",
     "[&](int64_t a, int64_t b) { return a < b; });",
     "length buckets not sorted by length (padding as with random batches)"),
    ("allocator-wide-classes", "src/heed/core/allocator.cpp",
     "std::bit_floor(n) / 4", "std::bit_floor(n) / 2",
     "allocator size classes up to 50% over the request"),
    # ---- text
    ("csv-doubled-quote", "src/heed/data/text_table.cpp",
     "field.push_back('\"');\n          ++i;", "field.push_back('\"');",
     'CSV: a doubled quote "" inside a quoted field read as a quote that ends the field'),
    ("mean-pool-over-padding", "src/heed/nn/models/text_encoder.cpp",
     "w.f32()[i * t + j] = 1.f / float(n);", "w.f32()[i * t + j] = 1.f / float(t);",
     "mean pooling divides by the padded length"),
    ("mlm-mask-share", "src/heed/tasks/masked_lm.cpp",
     "if (what < 0.8f)", "if (what < 0.7f)",
     "masked LM: 70% of the chosen tokens become [MASK] instead of 80%"),
    ("predict-topk-reversed", "src/heed/metrics/ranking.cpp",
     "return scores[a] > scores[b] ||", "return scores[a] < scores[b] ||",
     "predict lists the least likely classes first"),
]


def run(cmd, cwd, log, timeout=3600, env=None):
    with open(log, "w") as out:
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                                  env=env).returncode
        except subprocess.TimeoutExpired:
            return "timeout"


def copy_tree(dest):
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                           cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    wanted = set()
    for rel in filter(None, files):
        src, dst = os.path.join(ROOT, rel), os.path.join(dest, rel)
        if not os.path.isfile(src):
            continue
        wanted.add(os.path.normpath(dst))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
            shutil.copy2(src, dst)
    # Files the tree no longer has (a source deleted since the last run) would still be
    # globbed into the build: remove them. Unchanged files keep their times (incremental builds).
    for parent, _, names in os.walk(dest):
        for name in names:
            path = os.path.normpath(os.path.join(parent, name))
            if path not in wanted:
                os.remove(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help="mutant ids to run (default: all)")
    ap.add_argument("--list", action="store_true", help="print the mutants and exit")
    args = ap.parse_args()
    if args.list:
        for m in MUTANTS:
            print(f"{m[0]:32s} {m[1]}: {m[4]}")
        return 0
    chosen = [m for m in MUTANTS if not args.only or m[0] in args.only]
    src, build, logs = (os.path.join(SCRATCH, d) for d in ("src", "build", "logs"))
    for d in (src, build, logs):
        os.makedirs(d, exist_ok=True)
    copy_tree(src)
    env = dict(os.environ, OMP_NUM_THREADS="2", OMP_WAIT_POLICY="passive")
    env.pop("CI", None)
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        if run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DHEED_BUILD_BENCH=OFF"],
               src, os.path.join(logs, "configure.log")) != 0:
            print("mutants: configure failed, see", os.path.join(logs, "configure.log"))
            return 1
    build_cmd = ["cmake", "--build", build, "-j", str(os.cpu_count() or 2)]
    test_cmd = [os.path.join(build, "tests", "heed_tests"), "--gtest_fail_fast", "--gtest_brief=1"]
    print("mutants: building and testing the unmutated tree in", SCRATCH, flush=True)
    if run(build_cmd, src, os.path.join(logs, "baseline-build.log")) != 0 or \
            run(test_cmd, build, os.path.join(logs, "baseline-test.log"), env=env) != 0:
        print("mutants: the unmutated tree does not build or pass; see", logs)
        return 1
    results = []
    for ident, rel, old, new, what in chosen:
        path = os.path.join(src, rel)
        text = open(path).read()
        nth = int(ident.split("@")[1]) if "@" in ident else 1
        parts = text.split(old)
        start = time.time()
        if len(parts) <= nth:
            results.append((ident, "INVALID", f"text not found (x{nth}) in {rel}", 0))
            print(f"  {ident}: INVALID (text not found)", flush=True)
            continue
        mutated = old.join(parts[:nth]) + new + old.join(parts[nth:])
        with open(path, "w") as f:
            f.write(mutated)
        try:
            log = os.path.join(logs, ident + ".log")
            status = run(build_cmd, src, log)
            if status != 0:
                verdict = "INVALID"
                detail = "does not compile"
            else:
                status = run(test_cmd, build, log, timeout=1800, env=env)
                verdict = "SURVIVED" if status == 0 else "KILLED"
                failed = [line.split("] ", 1)[-1].split(" (")[0] for line in open(log)
                          if line.startswith("[  FAILED  ]") and "listed below" not in line]
                detail = f"by {failed[0]}" if failed else ("timeout" if status == "timeout" else "")
        finally:
            with open(path, "w") as f:
                f.write(text)
        results.append((ident, verdict, detail, time.time() - start))
        print(f"  {ident}: {verdict} {detail} [{time.time() - start:.0f} s]", flush=True)
    run(build_cmd, src, os.path.join(logs, "restore-build.log"))
    print()
    print("| mutant | what it simulates | verdict |")
    print("|---|---|---|")
    whats = {m[0]: m[4] for m in MUTANTS}
    for ident, verdict, detail, _ in results:
        print(f"| {ident} | {whats[ident]} | {verdict} {detail} |")
    survivors = [r for r in results if r[1] != "KILLED"]
    print(f"\n{len(results) - len(survivors)} of {len(results)} mutants killed")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
