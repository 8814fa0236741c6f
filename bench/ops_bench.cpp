// Kernel benchmarks at Transformer sizes: 6,400 rows (e.g. batch 100 x 64 tokens) by width C.
// Element-wise kernels report bytes/s (compare with memory bandwidth); linear reports FLOP/s
// (compare with `heed bench gemm`). Run: build/bench/heed_bench_ops (see docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include "heed/core/rng.h"
#include "heed/core/tensor.h"
#include "heed/kernels/elementwise.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/layer_norm.h"
#include "heed/kernels/softmax.h"

namespace {
constexpr int64_t kRows = 6400;

heed::Tensor random(const heed::Shape& shape) {
  heed::Rng rng(7);
  return heed::Tensor::randn(shape, rng);
}

void set_bytes(benchmark::State& state, int64_t bytes_per_iter) {
  state.SetBytesProcessed(state.iterations() * bytes_per_iter);
}

void BM_LayerNormForward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), y = heed::Tensor::empty({kRows, c});
  auto w = heed::Tensor::full({c}, 1.f), b = heed::Tensor::zeros({c});
  auto mean = heed::Tensor::empty({kRows}), rstd = heed::Tensor::empty({kRows});
  for (auto _ : state)
    heed::kernels::layer_norm_forward(x.f32(), w.f32(), b.f32(), y.f32(), mean.f32(), rstd.f32(),
                                      kRows, c, 1e-5f);
  set_bytes(state, 2 * kRows * c * 4);
}

void BM_LayerNormBackward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), dy = random({kRows, c}), dx = heed::Tensor::zeros({kRows, c});
  auto w = heed::Tensor::full({c}, 1.f), b = heed::Tensor::zeros({c}), y = heed::Tensor::empty({kRows, c});
  auto dw = heed::Tensor::zeros({c}), db = heed::Tensor::zeros({c});
  auto mean = heed::Tensor::empty({kRows}), rstd = heed::Tensor::empty({kRows});
  heed::kernels::layer_norm_forward(x.f32(), w.f32(), b.f32(), y.f32(), mean.f32(), rstd.f32(), kRows,
                                    c, 1e-5f);
  for (auto _ : state)
    heed::kernels::layer_norm_backward(x.f32(), w.f32(), mean.f32(), rstd.f32(), dy.f32(), dx.f32(),
                                       dw.f32(), db.f32(), kRows, c);
  set_bytes(state, 4 * kRows * c * 4);  // read x, dy, dx; write dx
}

void BM_SoftmaxForward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), y = heed::Tensor::empty({kRows, c});
  for (auto _ : state) heed::kernels::softmax_forward(x.f32(), y.f32(), kRows, c);
  set_bytes(state, 2 * kRows * c * 4);
}

void BM_SoftmaxBackward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto y = random({kRows, c}), dy = random({kRows, c}), dx = heed::Tensor::zeros({kRows, c});
  for (auto _ : state) heed::kernels::softmax_backward(y.f32(), dy.f32(), dx.f32(), kRows, c);
  set_bytes(state, 4 * kRows * c * 4);
}

void BM_GeluForward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), y = heed::Tensor::empty({kRows, c});
  for (auto _ : state) heed::kernels::gelu_forward(x.f32(), y.f32(), kRows * c);
  set_bytes(state, 2 * kRows * c * 4);
}

void BM_GeluBackward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), dy = random({kRows, c}), dx = heed::Tensor::zeros({kRows, c});
  for (auto _ : state) heed::kernels::gelu_backward(x.f32(), dy.f32(), dx.f32(), kRows * c);
  set_bytes(state, 4 * kRows * c * 4);
}

void BM_Copy(benchmark::State& state) {  // the memory-bandwidth yardstick for the kernels above
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), y = heed::Tensor::empty({kRows, c});
  for (auto _ : state) heed::kernels::scale(x.f32(), 1.0f, y.f32(), kRows * c);
  set_bytes(state, 2 * kRows * c * 4);
}

// y[6400, C] = x[6400, C] W[C, C]^T: the linear layer's forward GEMM.
void BM_LinearForward(benchmark::State& state) {
  const int64_t c = state.range(0);
  auto x = random({kRows, c}), w = random({c, c}), y = heed::Tensor::empty({kRows, c});
  for (auto _ : state)
    heed::kernels::gemm(false, true, kRows, c, c, 1.f, x.f32(), c, w.f32(), c, 0.f, y.f32(), c);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kRows * c * c * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

#define WIDTHS ->Arg(64)->Arg(128)->Arg(256)->Arg(384)->Arg(768)->Unit(benchmark::kMicrosecond)
BENCHMARK(BM_Copy) WIDTHS;
BENCHMARK(BM_LayerNormForward) WIDTHS;
BENCHMARK(BM_LayerNormBackward) WIDTHS;
BENCHMARK(BM_SoftmaxForward) WIDTHS;
BENCHMARK(BM_SoftmaxBackward) WIDTHS;
BENCHMARK(BM_GeluForward) WIDTHS;
BENCHMARK(BM_GeluBackward) WIDTHS;
BENCHMARK(BM_LinearForward) WIDTHS;
}  // namespace

BENCHMARK_MAIN();
