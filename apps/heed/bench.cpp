// heed bench gemm: sgemm GFLOP/s over square sizes, to know the machine's ceiling.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/core/tensor.h"
#include "heed/kernels/gemm.h"

namespace heed::cli {

namespace {
template <class F>
double median_ms(F&& run, int reps) {
  run();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void bench_gemm(const std::vector<int64_t>& sizes, int threads, bool json) {
  if (threads > 0) set_num_threads(threads);
  nlohmann::json rows = nlohmann::json::array();
  if (!json) std::printf("%8s %12s %10s\n", "n", "median_ms", "GFLOP/s");
  for (int64_t n : sizes) {
    Rng rng(1);
    Tensor a = Tensor::randn({n, n}, rng), b = Tensor::randn({n, n}, rng), c = Tensor::empty({n, n});
    const double flops = 2.0 * double(n) * double(n) * double(n);
    const int reps = int(std::clamp(3e9 / flops, 5.0, 200.0));
    double ms = median_ms([&] {
      kernels::gemm(false, false, n, n, n, 1.f, a.f32(), n, b.f32(), n, 0.f, c.f32(), n);
    }, reps);
    double gflops = flops / (ms * 1e-3) * 1e-9;
    rows.push_back({{"n", n}, {"median_ms", ms}, {"gflops", gflops}});
    if (!json) std::printf("%8ld %12.3f %10.1f\n", long(n), ms, gflops);
  }
  if (json)
    std::printf("%s\n", nlohmann::json{{"blas", kernels::blas_name()}, {"threads", num_threads()},
                                       {"results", rows}}.dump(2).c_str());
}
}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Measure kernels (median of repeated runs)");
  bench->require_subcommand(1);
  auto* gemm = bench->add_subcommand("gemm", "sgemm GFLOP/s for square n x n x n products");
  static std::vector<int64_t> sizes{64, 128, 256, 512, 1024, 2048};
  static int threads = 0;
  static bool json = false;
  gemm->add_option("--sizes", sizes, "matrix sizes")->check(CLI::PositiveNumber);
  gemm->add_option("--threads", threads, "threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::Range(1, 4096));
  gemm->add_flag("--json", json, "print JSON");
  gemm->callback([] { bench_gemm(sizes, threads, json); });
  register_bench_attention(*bench);
  register_bench_vit(*bench);
  register_bench_text(*bench);
  register_bench_sasrec(*bench);
  register_bench_generate(*bench);
}

}  // namespace heed::cli
