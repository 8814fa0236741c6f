// oneDNN's matmul primitive as heed's reduced-precision GEMMs (int8, bf16) use it:
// c = a b^T (+ bias) with b a weight matrix [n, k], row-major.
//
// One primitive per shape and data types, made on first use and kept: oneDNN's run-time
// dimensions and its BLAS-like entry points take slow paths (gemm_u8s8s32 was 8x slower than the
// primitive on a Sapphire Rapids at the default ViT's shapes). The weights are reordered once into
// the layout the primitive picks for this CPU and kept in a PackedWeightCache, since reordering
// them per call costs about as much as a small layer's GEMM.
#pragma once

#include <cstdint>
#include <memory>

namespace heed::kernels {

// The packed forms of one weight matrix (and of slices of its rows), made on a layer's first call
// and reused by every later one. Thread-safe. The weights it packed must stay alive and unchanged
// while it is used.
class PackedWeightCache {
 public:
  PackedWeightCache();
  ~PackedWeightCache();
  PackedWeightCache(const PackedWeightCache&) = delete;
  PackedWeightCache& operator=(const PackedWeightCache&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

enum class MatmulType { U8, S8, S32, BF16, F32 };

struct MatmulSpec {
  int64_t m = 0, n = 0, k = 0;
  MatmulType a = MatmulType::F32, b = MatmulType::F32, c = MatmulType::F32;
  bool bias = false;  // an f32 [n] added to every row of c
};

// c [m, n] = a [m, k] b^T (+ bias), b [n, k]; all dense and row-major, in the spec's types.
// With a cache, b's packed form is made once and kept there; without one it is made per call.
// A combination oneDNN does not implement on this CPU is an error naming the shape and types.
void onednn_matmul_nt(const MatmulSpec& spec, const void* a, const void* b, const float* bias, void* c,
                      PackedWeightCache* cache = nullptr);

// What oneDNN's kernels run on this CPU (ONEDNN_MAX_CPU_ISA can lower it): AVX-512 VNNI (exact
// u8 x s8 products without int16 pair sums) and AVX-512 BF16 (bf16 dot products), each also true
// on every ISA above it (AMX).
bool onednn_has_vnni();
bool onednn_has_bf16();

}  // namespace heed::kernels
