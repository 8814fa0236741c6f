// Kernel benchmarks at Transformer sizes: 6,400 rows (e.g. batch 100 x 64 tokens) by width C.
// Element-wise kernels report bytes/s (compare with memory bandwidth); linear reports FLOP/s
// (compare with `heed bench gemm`). Run: build/bench/heed_bench_ops (see docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "heed/core/rng.h"
#include "heed/core/tensor.h"
#include "heed/kernels/elementwise.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/bf16.h"
#include "heed/kernels/int8.h"
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

// A BERT-base layer's projections, fp32 against int8 (per-row dynamic activations, per-channel
// weights, bias included): rows = batch x 128 tokens, args {rows, in, out}.
void BM_BertLinearF32(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  auto x = random({m, k}), w = random({n, k}), b = random({n}), y = heed::Tensor::empty({m, n});
  for (auto _ : state) {
    heed::kernels::gemm(false, true, m, n, k, 1.f, x.f32(), k, w.f32(), k, 0.f, y.f32(), n);
    heed::kernels::add_rows(b.f32(), m, n, y.f32());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_BertLinearInt8(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  auto x = random({m, k}), w = random({n, k}), b = random({n}), y = heed::Tensor::empty({m, n});
  std::vector<int8_t> w_q(static_cast<size_t>(n * k));
  std::vector<float> w_scale(static_cast<size_t>(n));
  std::vector<int32_t> w_sums(static_cast<size_t>(n));
  heed::kernels::quantize_rows(w.f32(), n, k, 127, w_q.data(), w_scale.data());
  heed::kernels::int8_row_sums(w_q.data(), n, k, w_sums.data());
  heed::kernels::PackedWeightCache packed;  // as a quantised layer holds it
  for (auto _ : state)
    heed::kernels::int8_linear(x.f32(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, b.f32(),
                               y.f32(), &packed);
  state.counters["GOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations(),
                                               benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

// bf16 weights (packed once, as a converted layer holds them), the input rounded to bf16 per call,
// f32 accumulation and bias: oneDNN's bf16 matmul on AVX-512 BF16 / AMX, the f32 emulation elsewhere.
void BM_BertLinearBf16(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  auto x = random({m, k}), w = random({n, k}), b = random({n}), y = heed::Tensor::empty({m, n});
  std::vector<uint16_t> w_bf16(static_cast<size_t>(n * k));
  std::vector<float> widened(w_bf16.size());
  heed::kernels::round_to_bf16(w.f32(), n * k, w_bf16.data());
  heed::kernels::widen_bf16(w_bf16.data(), n * k, widened.data());
  heed::kernels::PackedWeightCache packed;
  for (auto _ : state)
    heed::kernels::bf16_linear(x.f32(), m, k, w_bf16.data(), widened.data(), n, b.f32(), y.f32(), &packed);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations(),
                                                 benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.SetLabel(heed::kernels::bf16_native() ? "bf16 dot products" : "emulated in f32");
}

#define BERT_SHAPES                                                                             \
  ->Args({128, 768, 768})->Args({128, 768, 3072})->Args({128, 3072, 768})->Args({1024, 768, 768}) \
      ->Args({1024, 768, 3072})->Args({1024, 3072, 768})                                        \
      /* the default ViT's layers (dim 64) at batch 128 of 17 tokens, per replica */             \
      ->Args({2176, 64, 192})->Args({2176, 64, 64})->Args({2176, 64, 256})->Args({2176, 256, 64}) \
      ->Unit(benchmark::kMicrosecond)
BENCHMARK(BM_BertLinearF32) BERT_SHAPES;
BENCHMARK(BM_BertLinearInt8) BERT_SHAPES;
BENCHMARK(BM_BertLinearBf16) BERT_SHAPES;

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
