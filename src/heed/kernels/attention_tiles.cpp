// Compiled once per SIMD target: Highway's foreach_target.h includes this file again for each
// target in HWY_TARGETS, with HWY_NAMESPACE naming that target's namespace.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/attention_tiles.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cstddef>
#include <limits>

#include "heed/kernels/attention_tiles.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::tiles {
namespace HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;
namespace {

using Df = hn::ScalableTag<float>;
using Vf = hn::Vec<Df>;

int64_t lanes() { return int64_t(hn::Lanes(Df())); }

// Rows of a register block for 4, 2 and 1 vectors of lanes: AVX-512 has 32 vector registers,
// so 24 accumulators fit beside the B vectors and the broadcast; AVX2 and SSE4 have 16, where
// 12 do. Measured on AVX2 (HEED_SIMD=AVX2, Zen 5): 24 accumulators spill and run N = 4096
// forward in 317 ms and N = 1024 forward+backward in 68 ms, against 251 ms and 50 ms with 12.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr int kRows4 = 6, kRows2 = 12, kRows1 = 16;
#else
constexpr int kRows4 = 3, kRows2 = 6, kRows1 = 12;
#endif

// The vector form of exp_approx (fast_math.h): same range reduction and polynomial, so both
// have the same < 2.5e-7 relative error, and exp(-inf) = 0.
Vf exp_vec(Df d, Vf x) {
  const hn::RebindToSigned<Df> di;
  const Vf lo = hn::Set(d, -87.3f), hi = hn::Set(d, 88.7f);
  const Vf xc = hn::Min(hn::Max(x, lo), hi);
  const Vf n = hn::Round(hn::Mul(xc, hn::Set(d, 1.44269504f)));
  Vf r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), xc);
  r = hn::MulAdd(n, hn::Set(d, 2.12194440e-4f), r);
  Vf p = hn::Set(d, 1.9875691500e-4f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
  p = hn::MulAdd(hn::Mul(p, r), r, hn::Add(r, hn::Set(d, 1.0f)));
  const auto bits = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  Vf result = hn::Mul(p, hn::BitCast(d, bits));
  result = hn::IfThenZeroElse(hn::Lt(x, lo), result);
  return hn::IfThenElse(hn::Gt(x, hi), hn::Set(d, std::numeric_limits<float>::infinity()),
                        result);
}

// What a block of C starts from: zero (C is overwritten), C, or C times a per-lane scale.
enum class Start { kZero, kC, kScaledC };

// c[r][lane] (= or +=) sum_k a[r * a_m + k * a_k] * b[k * ldb + lane] for a block of ROWS rows
// and VECS vectors of lanes, the accumulators in registers (24 of AVX-512's 32). A is read
// through strides, one broadcast per element, so K, V or a transposed tile serve in place.
template <int ROWS, int VECS, Start START>
void block(int64_t depth, const float* a, int64_t a_m, int64_t a_k, const float* b, int64_t ldb,
           float* c, int64_t ldc, const float* lane_scale) {
  const Df d;
  const int64_t n = int64_t(hn::Lanes(d));
  Vf acc[ROWS][VECS];
  for (int v = 0; v < VECS; ++v) {
    const Vf s = START == Start::kScaledC ? hn::LoadU(d, lane_scale + v * n) : hn::Zero(d);
    for (int r = 0; r < ROWS; ++r) {
      if constexpr (START == Start::kZero)
        acc[r][v] = hn::Zero(d);
      else if constexpr (START == Start::kC)
        acc[r][v] = hn::LoadU(d, c + r * ldc + v * n);
      else
        acc[r][v] = hn::Mul(hn::LoadU(d, c + r * ldc + v * n), s);
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    Vf bv[VECS];
    for (int v = 0; v < VECS; ++v) bv[v] = hn::LoadU(d, b + k * ldb + v * n);
    for (int r = 0; r < ROWS; ++r) {
      const Vf av = hn::Set(d, a[r * a_m + k * a_k]);
      for (int v = 0; v < VECS; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (int r = 0; r < ROWS; ++r)
    for (int v = 0; v < VECS; ++v) hn::StoreU(acc[r][v], d, c + r * ldc + v * n);
}

// block<..., Start::kC> for one partial vector of columns (the first `width` < lanes): B's and
// C's rows go through zero-padded copies, so nothing outside the [rows, width] block is read or
// written on any target (masked loads may read whole vectors on SSE4).
template <int ROWS>
void rows_block_tail(int64_t width, int64_t depth, const float* a, int64_t a_m, int64_t a_k,
                     const float* b, int64_t ldb, float* c, int64_t ldc) {
  const Df d;
  constexpr size_t kMax = HWY_MAX_BYTES / sizeof(float);
  HWY_ALIGN float buffer[kMax] = {};
  Vf acc[ROWS];
  for (int r = 0; r < ROWS; ++r) {
    std::copy(c + r * ldc, c + r * ldc + width, buffer);
    acc[r] = hn::Load(d, buffer);
  }
  for (int64_t k = 0; k < depth; ++k) {
    std::copy(b + k * ldb, b + k * ldb + width, buffer);
    const Vf bv = hn::Load(d, buffer);
    for (int r = 0; r < ROWS; ++r)
      acc[r] = hn::MulAdd(hn::Set(d, a[r * a_m + k * a_k]), bv, acc[r]);
  }
  for (int r = 0; r < ROWS; ++r) {
    hn::Store(acc[r], d, buffer);
    std::copy(buffer, buffer + width, c + r * ldc);
  }
}

// Calls f.template operator()<R>(r) over rows [0, rows) in blocks of ROWS, then 4, 2 and 1
// (head_dim 64 = 10 x 6 + 4 with AVX-512).
template <int ROWS, class F>
void for_row_blocks(int64_t rows, F&& f) {
  int64_t r = 0;
  for (; r + ROWS <= rows; r += ROWS) f.template operator()<ROWS>(r);
  if constexpr (ROWS > 4)
    for (; r + 4 <= rows; r += 4) f.template operator()<4>(r);
  for (; r + 2 <= rows; r += 2) f.template operator()<2>(r);
  for (; r < rows; ++r) f.template operator()<1>(r);
}

// All rows of C for the vector columns [col, col + VECS * lanes): blocks of kRows4 rows (4
// vectors) or kRows2 (fewer vectors), then smaller.
template <int VECS>
void rows_panel(int64_t rows, int64_t depth, const float* a, int64_t a_m, int64_t a_k,
                const float* b, int64_t ldb, float* c, int64_t ldc) {
  for_row_blocks<VECS >= 4 ? kRows4 : kRows2>(rows, [&]<int R>(int64_t r) {
    block<R, VECS, Start::kC>(depth, a + r * a_m, a_m, a_k, b, ldb, c + r * ldc, ldc, nullptr);
  });
}

// Walks a [rows][qp] output in blocks of ROWS rows x VECS vectors (then fewer rows);
// `block.template operator()<R, VECS>(row, lane)` computes one. A block of lanes stops at the
// largest key_end of its vectors when key_end is given.
template <int VECS, int ROWS, class Block>
void tile_loop(int64_t rows, int64_t qp, const int64_t* key_end, Block&& block) {
  const int64_t n = lanes(), step = VECS * n;
  for (int64_t i = 0; i + step <= qp; i += step) {
    int64_t limit = key_end ? 0 : rows;
    if (key_end)
      for (int c = 0; c < VECS; ++c) limit = std::max(limit, key_end[i / n + c]);
    for_row_blocks<ROWS>(limit,
                         [&]<int R>(int64_t r) { block.template operator()<R, VECS>(r, i); });
  }
}

// Chooses the widest block that divides the padded query count: 4 vectors x kRows4 rows, 2 x
// kRows2 or 1 x kRows1 (with AVX-512: 24, 24 and 16 accumulators). A ragged tile (the causal diagonal: each vector of
// queries sees a different number of keys) takes 2-vector blocks, which skip more of it.
template <class Block>
void dispatch(int64_t rows, int64_t qp, const int64_t* key_end, bool ragged, Block&& block) {
  const int64_t vecs = qp / lanes();
  if (vecs % 4 == 0 && !ragged) {
    tile_loop<4, kRows4>(rows, qp, key_end, block);
  } else if (vecs % 2 == 0) {
    tile_loop<2, kRows2>(rows, qp, key_end, block);
  } else {
    tile_loop<1, kRows1>(rows, qp, key_end, block);
  }
}

bool is_ragged(const int64_t* key_end, int64_t qp) {
  return key_end && key_end[0] != key_end[qp / int64_t(hn::Lanes(Df())) - 1];
}

void pack_transposed(const float* q, int64_t ldq, int64_t rows, int64_t head_dim, float scale,
                     int64_t qp, float* qt) {
  for (int64_t e = 0; e < head_dim; ++e) {
    float* out = qt + e * qp;
    for (int64_t i = 0; i < rows; ++i) out[i] = scale * q[i * ldq + e];
    std::fill(out + rows, out + qp, 0.f);
  }
}

void logits(const float* k, int64_t ldk, int64_t cols, const float* qt, int64_t qp,
            int64_t head_dim, const int64_t* key_end, float* st) {
  const bool ragged = is_ragged(key_end, qp);
  dispatch(cols, qp, key_end, ragged, [&]<int ROWS, int VECS>(int64_t j, int64_t i) {
    block<ROWS, VECS, Start::kZero>(head_dim, k + j * ldk, ldk, 1, qt + i, qp, st + j * qp + i,
                                    qp, nullptr);
  });
}

void online_softmax(float* st, int64_t cols, int64_t qp, float* row_max, float* row_sum,
                    float* rescale) {
  const Df d;
  const int64_t n = lanes();
  const Vf neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < qp; i += n) {
    const Vf old_max = hn::LoadU(d, row_max + i);
    Vf m = old_max;
    for (int64_t j = 0; j < cols; ++j) m = hn::Max(m, hn::LoadU(d, st + j * qp + i));
    // Lanes with nothing visible yet subtract 0 instead of -inf: exp(-inf - 0) = 0, no NaN.
    const Vf shift = hn::IfThenZeroElse(hn::Eq(m, neg_inf), m);
    const Vf scale = exp_vec(d, hn::Sub(old_max, shift));
    Vf sum = hn::Zero(d);
    for (int64_t j = 0; j < cols; ++j) {
      const Vf p = exp_vec(d, hn::Sub(hn::LoadU(d, st + j * qp + i), shift));
      hn::StoreU(p, d, st + j * qp + i);
      sum = hn::Add(sum, p);
    }
    hn::StoreU(hn::MulAdd(hn::LoadU(d, row_sum + i), scale, sum), d, row_sum + i);
    hn::StoreU(m, d, row_max + i);
    hn::StoreU(scale, d, rescale + i);
  }
}

void accumulate_values(const float* v, int64_t ldv, int64_t cols, const float* pt, int64_t qp,
                       int64_t head_dim, const int64_t* key_end, const float* rescale,
                       float* acct) {
  const int64_t n = lanes();
  // Rows of the output are head dimensions here; v is read at column e of each key row. The
  // dispatch walks lanes in blocks of 1, 2 or 4 vectors: keys past the block's key_end are 0.
  const bool ragged = is_ragged(key_end, qp);
  dispatch(head_dim, qp, nullptr, ragged, [&]<int ROWS, int VECS>(int64_t e, int64_t i) {
    int64_t used = cols;
    if (key_end) {
      used = 0;
      for (int c = 0; c < VECS; ++c) used = std::max(used, key_end[i / n + c]);
    }
    block<ROWS, VECS, Start::kScaledC>(used, v + e, 1, ldv, pt + i, qp, acct + e * qp + i, qp,
                                       rescale + i);
  });
}

void probabilities(float* st, int64_t cols, int64_t qp, const float* lse) {
  const Df d;
  const int64_t n = lanes();
  const Vf neg_inf = hn::Set(d, -std::numeric_limits<float>::infinity());
  for (int64_t i = 0; i < qp; i += n) {
    const Vf l = hn::LoadU(d, lse + i);
    const auto dead = hn::Eq(l, neg_inf);
    const Vf shift = hn::IfThenZeroElse(dead, l);
    for (int64_t j = 0; j < cols; ++j) {
      float* row = st + j * qp + i;
      hn::StoreU(hn::IfThenZeroElse(dead, exp_vec(d, hn::Sub(hn::LoadU(d, row), shift))), d, row);
    }
  }
}

void softmax_backward(const float* pt, float* dpt, int64_t cols, int64_t qp, const float* delta,
                      float scale) {
  const Df d;
  const int64_t n = lanes();
  const Vf s = hn::Set(d, scale);
  for (int64_t i = 0; i < qp; i += n) {
    const Vf dl = hn::LoadU(d, delta + i);
    for (int64_t j = 0; j < cols; ++j) {
      const Vf p = hn::Mul(hn::LoadU(d, pt + j * qp + i), s);
      hn::StoreU(hn::Mul(p, hn::Sub(hn::LoadU(d, dpt + j * qp + i), dl)), d, dpt + j * qp + i);
    }
  }
}

void accumulate_rows(int64_t rows, int64_t width, int64_t depth, const float* a, int64_t a_m,
                     int64_t a_k, const float* b, int64_t ldb, float* c, int64_t ldc) {
  const int64_t n = lanes();
  int64_t col = 0;
  for (; col + 4 * n <= width; col += 4 * n)
    rows_panel<4>(rows, depth, a, a_m, a_k, b + col, ldb, c + col, ldc);
  for (; col + 2 * n <= width; col += 2 * n)
    rows_panel<2>(rows, depth, a, a_m, a_k, b + col, ldb, c + col, ldc);
  for (; col + n <= width; col += n)
    rows_panel<1>(rows, depth, a, a_m, a_k, b + col, ldb, c + col, ldc);
  // Columns past the last whole vector (head dims that are not a multiple of the width).
  if (col < width) {
    int64_t r = 0;
    for (; r + 8 <= rows; r += 8)
      rows_block_tail<8>(width - col, depth, a + r * a_m, a_m, a_k, b + col, ldb,
                         c + r * ldc + col, ldc);
    for (; r < rows; ++r)
      rows_block_tail<1>(width - col, depth, a + r * a_m, a_m, a_k, b + col, ldb,
                         c + r * ldc + col, ldc);
  }
}

}  // namespace

const TileKernels* GetTileKernels() {
  static const TileKernels kernels{hwy::TargetName(HWY_TARGET), lanes(), pack_transposed,
                                   logits, online_softmax, accumulate_values, probabilities,
                                   softmax_backward, accumulate_rows};
  return &kernels;
}

}  // namespace HWY_NAMESPACE
}  // namespace heed::kernels::tiles
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels::tiles {
HWY_EXPORT(GetTileKernels);
const TileKernels& tile_kernels() { return *HWY_DYNAMIC_DISPATCH(GetTileKernels)(); }
}  // namespace heed::kernels::tiles
#endif
