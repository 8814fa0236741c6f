// Measures single-precision GEMM (C = A * B, row-major, square n x n) with OpenBLAS and oneDNN in
// the same process, so the choice of BLAS for heed rests on numbers from this machine.
// Build: see bench/CMakeLists.txt (target heed_gemm_libraries, built when oneDNN is installed).
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

template <class F>
double median_seconds(F&& run, int reps) {
  std::vector<double> t;
  run();  // warm-up: first call pays for thread start-up and page faults
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : omp_get_max_threads();
  omp_set_num_threads(threads);
  std::printf("threads=%d (OpenBLAS build: %s)\n", threads, openblas_get_config());
  std::printf("%6s %14s %14s\n", "n", "openblas GF/s", "onednn GF/s");
  for (int n : {64, 128, 256, 512, 768, 1024, 1536, 2048}) {
    std::vector<float> a(size_t(n) * n), b(size_t(n) * n), c(size_t(n) * n);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& x : a) x = u(rng);
    for (auto& x : b) x = u(rng);
    double flops = 2.0 * n * n * n;
    int reps = std::max(5, int(2e9 / flops));
    double tb = median_seconds([&] {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.data(), n, b.data(), n,
                  0.f, c.data(), n);
    }, reps);
    double td = median_seconds([&] {
      dnnl_sgemm('N', 'N', n, n, n, 1.f, a.data(), n, b.data(), n, 0.f, c.data(), n);
    }, reps);
    std::printf("%6d %14.1f %14.1f\n", n, flops / tb * 1e-9, flops / td * 1e-9);
  }
}
