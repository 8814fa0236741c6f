#include "heed/kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "heed/core/rng.h"
#include "heed/kernels/attention_tiles.h"

namespace heed::kernels {

namespace {
// Tiles: a 128 x 128 logit block (64 KiB) plus a 128 x D accumulator stay in L2 (2 MiB per
// core). Measured at N = 4096: 128 x 128 runs ~25% faster than 64 x 64; 256 x 128 gains
// nothing and wastes work on the causal diagonal.
constexpr int64_t kQueryTile = 128;
constexpr int64_t kKeyTile = 128;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct KeyRange {
  int64_t lo, hi;  // keys [lo, hi) may be unmasked (the additive mask can still mask inside)
};

// Key positions query i can see under padding, causal and window masks. Both bounds are
// non-decreasing in i, so a tile's range is [range(first row).lo, range(last row).hi).
KeyRange key_range(const AttentionDims& d, const AttentionMask& m, int64_t b, int64_t i) {
  int64_t lo = 0, hi = d.kv_len;
  if (m.key_lengths) hi = std::min(hi, m.key_lengths[b]);
  const int64_t pos = i + d.kv_len - d.q_len;
  if (m.causal) hi = std::min(hi, pos + 1);
  if (m.window > 0) {
    lo = std::max(lo, pos - m.window + 1);
    if (!m.causal) hi = std::min(hi, pos + m.window);
  }
  return {lo, std::max(lo, hi)};
}

// Masks a transposed logits tile st[c * qp + r] (query rows i0.., keys j0..) in place: entries
// outside a query's visible range become -inf, the additive mask is added to the rest. Tiles
// every query sees whole (most of them) are left alone.
void mask_logits_t(const AttentionDims& d, const AttentionMask& m, int64_t b, int64_t h,
                   int64_t i0, int64_t rows, int64_t j0, int64_t cols, int64_t qp, float* st) {
  // Range bounds are non-decreasing in the query: the last row has the largest lo, the first
  // row the smallest hi.
  if (!m.additive && key_range(d, m, b, i0 + rows - 1).lo <= j0 &&
      key_range(d, m, b, i0).hi >= j0 + cols)
    return;
  const float* add = m.additive ? m.additive + b * m.additive_batch_stride +
                                      h * m.additive_head_stride
                                : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const KeyRange kr = key_range(d, m, b, i0 + r);
    const int64_t first = std::clamp(kr.lo - j0, int64_t{0}, cols);
    const int64_t last = std::clamp(kr.hi - j0, first, cols);
    for (int64_t c = 0; c < first; ++c) st[c * qp + r] = kNegInf;
    for (int64_t c = last; c < cols; ++c) st[c * qp + r] = kNegInf;
    if (add) {
      const float* add_row = add + (i0 + r) * d.kv_len + j0;
      for (int64_t c = first; c < last; ++c) st[c * qp + r] += add_row[c];
    }
  }
}

// Attention dropout on a transposed probability tile pt[c * qp + r] (query rows i0.., keys
// j0..): the uniform draw of element (i, j) is keyed by its flat index into [B, H, Tq, Tk].
void drop_t(const AttentionDims& d, const AttentionDropout& dr, int64_t bh, int64_t i0,
            int64_t rows, int64_t j0, int64_t cols, int64_t qp, float* pt) {
  const float keep_scale = 1.0f / (1.0f - dr.p);
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t base = uint64_t((bh * d.q_len + i0 + r) * d.kv_len + j0);
    for (int64_t c = 0; c < cols; ++c) {
      float& x = pt[c * qp + r];
      x = random_uniform(dr.seed, base + uint64_t(c)) >= dr.p ? x * keep_scale : 0.f;
    }
  }
}

int64_t tile_count(int64_t n, int64_t tile) { return (n + tile - 1) / tile; }

// Start of head (b, h) of an operand.
template <class T>
T* head_ptr(T* base, const AttentionLayout& l, int64_t b, int64_t h) {
  return base + b * l.batch + h * l.head;
}
}  // namespace

AttentionLayouts AttentionLayouts::contiguous(const AttentionDims& d) {
  const AttentionLayout q{d.heads * d.q_len * d.head_dim, d.q_len * d.head_dim, d.head_dim};
  const AttentionLayout kv{d.heads * d.kv_len * d.head_dim, d.kv_len * d.head_dim, d.head_dim};
  return {q, kv, kv, q};
}

void attention_fused_forward(const AttentionDims& d, const float* q, const float* k,
                             const float* v, const AttentionMask& mask,
                             const AttentionDropout& dropout, float* out, float* lse,
                             const AttentionLayouts& L) {
  const int64_t D = d.head_dim, q_tiles = tile_count(d.q_len, kQueryTile);
  const int64_t bh_count = d.batch * d.heads, tasks = bh_count * q_tiles;
  const float scale = 1.0f / std::sqrt(float(D));
  // Queries sit in vector lanes (attention_tiles.h): a tile is padded to whole vectors.
  const tiles::TileKernels& tk = tiles::tile_kernels();
  const int64_t lanes = tk.lanes;
  const int64_t qp = (std::min(kQueryTile, d.q_len) + lanes - 1) / lanes * lanes;
#pragma omp parallel
  {
    std::vector<float> qt(size_t(D * qp)), st(size_t(kKeyTile * qp)), acct(size_t(D * qp));
    const size_t lanes_total = static_cast<size_t>(qp);
    std::vector<float> row_max(lanes_total), row_sum(lanes_total), rescale(lanes_total);
    std::vector<int64_t> key_end(lanes_total / size_t(lanes));
    // Under a causal mask later query tiles cost more: they are handed out first, to whichever
    // thread is free (every task writes only its own rows, so the result does not depend on
    // which thread ran it).
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t bh = task % bh_count, b = bh / d.heads, h = bh % d.heads;
      const int64_t i0 = (q_tiles - 1 - task / bh_count) * kQueryTile;
      const int64_t rows = std::min(kQueryTile, d.q_len - i0);
      const float* k_bh = head_ptr(k, L.k, b, h);
      const float* v_bh = head_ptr(v, L.v, b, h);
      tk.pack_transposed(head_ptr(q, L.q, b, h) + i0 * L.q.row, L.q.row, rows, D, scale, qp,
                          qt.data());
      std::fill(acct.begin(), acct.end(), 0.f);
      std::fill(row_max.begin(), row_max.end(), kNegInf);
      std::fill(row_sum.begin(), row_sum.end(), 0.f);
      const int64_t key_lo = key_range(d, mask, b, i0).lo;
      const int64_t key_hi = key_range(d, mask, b, i0 + rows - 1).hi;
      for (int64_t j0 = key_lo; j0 < key_hi; j0 += kKeyTile) {  // tiles outside are skipped
        const int64_t cols = std::min(kKeyTile, key_hi - j0);
        // Keys each vector of queries can see (the causal diagonal needs about half).
        for (int64_t vb = 0; vb < qp / lanes; ++vb) {
          const int64_t last = i0 + std::min(rows, (vb + 1) * lanes) - 1;
          key_end[size_t(vb)] = std::clamp(key_range(d, mask, b, last).hi - j0, int64_t{0}, cols);
        }
        tk.logits(k_bh + j0 * L.k.row, L.k.row, cols, qt.data(), qp, D, key_end.data(),
                      st.data());
        mask_logits_t(d, mask, b, h, i0, rows, j0, cols, qp, st.data());
        tk.online_softmax(st.data(), cols, qp, row_max.data(), row_sum.data(),
                              rescale.data());
        if (dropout.p > 0.f) drop_t(d, dropout, bh, i0, rows, j0, cols, qp, st.data());
        tk.accumulate_values(v_bh + j0 * L.v.row, L.v.row, cols, st.data(), qp, D,
                                 key_end.data(), rescale.data(), acct.data());
      }
      for (int64_t r = 0; r < rows; ++r) {  // one normalisation at the end
        float* o = head_ptr(out, L.o, b, h) + (i0 + r) * L.o.row;
        const float l = row_sum[size_t(r)];
        lse[bh * d.q_len + i0 + r] = l > 0.f ? row_max[size_t(r)] + std::log(l) : kNegInf;
        const float inv = l > 0.f ? 1.0f / l : 0.f;  // fully masked row: zeros, not NaN
        for (int64_t e = 0; e < D; ++e) o[e] = acct[size_t(e * qp + r)] * inv;
      }
    }
  }
}

void attention_fused_backward(const AttentionDims& d, const float* q, const float* k,
                              const float* v, const float* out, const float* lse,
                              const float* dout, const AttentionMask& mask,
                              const AttentionDropout& dropout, float* dq, float* dk, float* dv,
                              const AttentionLayouts& L) {
  const int64_t D = d.head_dim, bh_count = d.batch * d.heads;
  const int64_t q_tiles = tile_count(d.q_len, kQueryTile), k_tiles = tile_count(d.kv_len, kKeyTile);
  const float scale = 1.0f / std::sqrt(float(D));

  // delta_i = rowsum(dO_i * O_i) = rowsum(dP_i * P_i): the softmax backward's row term.
  std::vector<float> delta(size_t(bh_count * d.q_len));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bh_count * d.q_len; ++r) {
    const int64_t bh = r / d.q_len, b = bh / d.heads, h = bh % d.heads, i = r % d.q_len;
    const float* o = head_ptr(out, L.o, b, h) + i * L.o.row;
    const float* g = head_ptr(dout, L.o, b, h) + i * L.o.row;
    float acc = 0.f;
    for (int64_t c = 0; c < D; ++c) acc += g[c] * o[c];
    delta[size_t(r)] = acc;
  }

  // With one key tile per head (sequences up to kKeyTile, e.g. a ViT) each task sees all of its
  // rows' keys, so dQ is written in place; otherwise every thread sums into its own compact
  // [B, H, Tq, D] copy, added in thread order at the end (deterministic for a thread count).
  const int threads = omp_get_max_threads();
  const bool dq_direct = k_tiles == 1;
  const int64_t dq_size = dq_direct ? 0 : bh_count * d.q_len * D;
  std::vector<float> dq_partial(size_t(threads) * size_t(dq_size), 0.f);
  const int64_t tasks = bh_count * k_tiles;
  const tiles::TileKernels& tk = tiles::tile_kernels();
  const int64_t lanes = tk.lanes;
  const int64_t qp = (std::min(kQueryTile, d.q_len) + lanes - 1) / lanes * lanes;
  const float neg_inf = kNegInf;
#pragma omp parallel num_threads(threads)
  {
    float* dq_mine = dq_partial.data() + size_t(omp_get_thread_num()) * size_t(dq_size);
    // Lane layout (attention_tiles.h): probabilities and their gradients as [key][query].
    const size_t tile = size_t(kKeyTile * qp), packed = size_t(D * qp), lane_count = size_t(qp);
    std::vector<float> pt(tile), dpt(tile), dropped(dropout.p > 0.f ? tile : 0);
    std::vector<float> qt(packed), dot(packed), lse_t(lane_count), delta_t(lane_count);
    std::vector<float> dk_acc(size_t(kKeyTile * D)), dv_acc(size_t(kKeyTile * D));
    // A fixed round-robin split (dq_mine's summation order must not depend on timing). Under a
    // causal mask early key tiles cost more; walking every other head's tiles backwards keeps
    // the two halves of the work even.
#pragma omp for schedule(static, 1)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t bh = task / k_tiles, b = bh / d.heads, h = bh % d.heads;
      const int64_t kt = bh % 2 == 0 ? task % k_tiles : k_tiles - 1 - task % k_tiles;
      const int64_t j0 = kt * kKeyTile, cols = std::min(kKeyTile, d.kv_len - j0);
      const float* k_cols = head_ptr(k, L.k, b, h) + j0 * L.k.row;
      const float* v_cols = head_ptr(v, L.v, b, h) + j0 * L.v.row;
      std::fill(dk_acc.begin(), dk_acc.end(), 0.f);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.f);
      for (int64_t qt_index = 0; qt_index < q_tiles; ++qt_index) {
        const int64_t i0 = qt_index * kQueryTile, rows = std::min(kQueryTile, d.q_len - i0);
        if (key_range(d, mask, b, i0).lo >= j0 + cols ||
            key_range(d, mask, b, i0 + rows - 1).hi <= j0)
          continue;  // no query in this tile sees these keys
        const float* q_rows = head_ptr(q, L.q, b, h) + i0 * L.q.row;
        const float* do_rows = head_ptr(dout, L.o, b, h) + i0 * L.o.row;
        tk.pack_transposed(q_rows, L.q.row, rows, D, scale, qp, qt.data());
        tk.pack_transposed(do_rows, L.o.row, rows, D, 1.f, qp, dot.data());
        for (int64_t r = 0; r < qp; ++r) {  // padding lanes: lse -inf (P = 0), delta 0
          lse_t[size_t(r)] = r < rows ? lse[bh * d.q_len + i0 + r] : neg_inf;
          delta_t[size_t(r)] = r < rows ? delta[size_t(bh * d.q_len + i0 + r)] : 0.f;
        }
        // P^T = exp(S^T - lse): the forward's probabilities, recomputed.
        tk.logits(k_cols, L.k.row, cols, qt.data(), qp, D, nullptr, pt.data());
        mask_logits_t(d, mask, b, h, i0, rows, j0, cols, qp, pt.data());
        tk.probabilities(pt.data(), cols, qp, lse_t.data());
        // dV += dropout(P)^T dO
        const float* p_used = pt.data();
        if (dropout.p > 0.f) {
          std::copy(pt.begin(), pt.end(), dropped.begin());
          drop_t(d, dropout, bh, i0, rows, j0, cols, qp, dropped.data());
          p_used = dropped.data();
        }
        tk.accumulate_rows(cols, D, rows, p_used, qp, 1, do_rows, L.o.row, dv_acc.data(), D);
        // dP^T = dropout'(V dO^T); dS^T = scale * P^T * (dP^T - delta)
        tk.logits(v_cols, L.v.row, cols, dot.data(), qp, D, nullptr, dpt.data());
        if (dropout.p > 0.f) drop_t(d, dropout, bh, i0, rows, j0, cols, qp, dpt.data());
        tk.softmax_backward(pt.data(), dpt.data(), cols, qp, delta_t.data(), scale);
        // dK += dS^T Q,  dQ += dS K
        tk.accumulate_rows(cols, D, rows, dpt.data(), qp, 1, q_rows, L.q.row, dk_acc.data(), D);
        if (dq_direct)
          tk.accumulate_rows(rows, D, cols, dpt.data(), 1, qp, k_cols, L.k.row,
                                 head_ptr(dq, L.q, b, h) + i0 * L.q.row, L.q.row);
        else
          tk.accumulate_rows(rows, D, cols, dpt.data(), 1, qp, k_cols, L.k.row,
                                 dq_mine + (bh * d.q_len + i0) * D, D);
      }
      for (int64_t c = 0; c < cols; ++c) {
        float* dk_row = head_ptr(dk, L.k, b, h) + (j0 + c) * L.k.row;
        float* dv_row = head_ptr(dv, L.v, b, h) + (j0 + c) * L.v.row;
        for (int64_t e = 0; e < D; ++e) {
          dk_row[e] += dk_acc[size_t(c * D + e)];
          dv_row[e] += dv_acc[size_t(c * D + e)];
        }
      }
    }
  }
  if (dq_direct) return;
  // dQ partials are compact [B, H, Tq, D]; add them in thread order into dq's layout.
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bh_count * d.q_len; ++r) {
    const int64_t bh = r / d.q_len, b = bh / d.heads, h = bh % d.heads, i = r % d.q_len;
    float* dq_row = head_ptr(dq, L.q, b, h) + i * L.q.row;
    for (int64_t e = 0; e < D; ++e) {
      float acc = dq_row[e];
      for (int t = 0; t < threads; ++t)
        acc += dq_partial[size_t(t) * size_t(dq_size) + size_t(r * D + e)];
      dq_row[e] = acc;
    }
  }
}

namespace {
// Walks every (batch, head, query tile, key tile) and hands `tile` a transposed [cols][qp]
// buffer to fill; writes it out as rows of a contiguous [B, H, Tq, Tk] result.
template <class FillTile>
void for_each_probability_tile(const AttentionDims& d, float* result, FillTile&& tile) {
  const int64_t bh_count = d.batch * d.heads, q_tiles = tile_count(d.q_len, kQueryTile);
  const int64_t k_tiles = tile_count(d.kv_len, kKeyTile);
  const int64_t lanes = tiles::tile_kernels().lanes;
  const int64_t qp = (std::min(kQueryTile, d.q_len) + lanes - 1) / lanes * lanes;
#pragma omp parallel
  {
    std::vector<float> packed(size_t(d.head_dim * qp)), st(size_t(kKeyTile * qp));
    std::vector<float> lanes_buf(static_cast<size_t>(qp));
#pragma omp for schedule(static)
    for (int64_t task = 0; task < bh_count * q_tiles; ++task) {
      const int64_t bh = task / q_tiles, i0 = (task % q_tiles) * kQueryTile;
      const int64_t rows = std::min(kQueryTile, d.q_len - i0);
      for (int64_t kt = 0; kt < k_tiles; ++kt) {
        const int64_t j0 = kt * kKeyTile, cols = std::min(kKeyTile, d.kv_len - j0);
        tile(bh, i0, rows, j0, cols, qp, packed.data(), lanes_buf.data(), st.data());
        for (int64_t r = 0; r < rows; ++r) {
          float* out = result + (bh * d.q_len + i0 + r) * d.kv_len + j0;
          for (int64_t c = 0; c < cols; ++c) out[c] = st[size_t(c * qp + r)];
        }
      }
    }
  }
}
}  // namespace

void attention_fused_probabilities(const AttentionDims& d, const float* q, const float* k,
                                   const AttentionMask& mask, const float* lse,
                                   const AttentionLayouts& L, float* p) {
  const tiles::TileKernels& tk = tiles::tile_kernels();
  const float scale = 1.0f / std::sqrt(float(d.head_dim));
  for_each_probability_tile(d, p, [&](int64_t bh, int64_t i0, int64_t rows, int64_t j0,
                                      int64_t cols, int64_t qp, float* qt, float* lse_t,
                                      float* st) {
    const int64_t b = bh / d.heads, h = bh % d.heads;
    // The backward's recomputation, step for step: P^T = exp(mask(S^T) - lse).
    tk.pack_transposed(head_ptr(q, L.q, b, h) + i0 * L.q.row, L.q.row, rows, d.head_dim, scale,
                       qp, qt);
    for (int64_t r = 0; r < qp; ++r) lse_t[r] = r < rows ? lse[bh * d.q_len + i0 + r] : kNegInf;
    tk.logits(head_ptr(k, L.k, b, h) + j0 * L.k.row, L.k.row, cols, qt, qp, d.head_dim, nullptr, st);
    mask_logits_t(d, mask, b, h, i0, rows, j0, cols, qp, st);
    tk.probabilities(st, cols, qp, lse_t);
  });
}

void attention_probability_gradient(const AttentionDims& d, const float* v, const float* dout,
                                    const AttentionLayouts& L, float* dp) {
  const tiles::TileKernels& tk = tiles::tile_kernels();
  for_each_probability_tile(d, dp, [&](int64_t bh, int64_t i0, int64_t rows, int64_t j0,
                                       int64_t cols, int64_t qp, float* dot, float*, float* st) {
    const int64_t b = bh / d.heads, h = bh % d.heads;
    // dP^T[j][i] = sum_e V[j][e] dO[i][e], as in the backward.
    tk.pack_transposed(head_ptr(dout, L.o, b, h) + i0 * L.o.row, L.o.row, rows, d.head_dim, 1.f,
                       qp, dot);
    tk.logits(head_ptr(v, L.v, b, h) + j0 * L.v.row, L.v.row, cols, dot, qp, d.head_dim, nullptr, st);
  });
}

}  // namespace heed::kernels
