#include "heed/kernels/int8.h"

#include <dnnl.h>

#include <algorithm>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <vector>

#include "heed/core/allocator.h"
#include "heed/core/error.h"
#include "heed/kernels/int8_rows.h"

namespace heed::kernels {
namespace {

// Rows are spread over threads once a call has this many elements (below it, threads cost more).
constexpr int64_t kParallelElements = int64_t{1} << 15;

bool has_vnni() {
  const unsigned isa = unsigned(dnnl_get_effective_cpu_isa());
  const unsigned vnni = unsigned(dnnl_cpu_isa_avx512_core_vnni);
  return (isa & vnni) == vnni;  // avx512_core_vnni and every ISA above it (BF16, AMX)
}

// A scratch buffer from heed's allocator, whose block cache hands the same blocks to the next
// call (fresh pages from the system cost more than a small layer's whole GEMM).
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t count)
      : bytes_(std::max<size_t>(1, static_cast<size_t>(count) * sizeof(T))),
        data_(static_cast<T*>(allocate_aligned(bytes_))) {}
  ~Scratch() { free_aligned(data_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() { return data_; }
  T& operator[](int64_t i) { return data_[i]; }

 private:
  size_t bytes_;
  T* data_;
};

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// u8 [m, k] x s8 [k, n] -> s32 [m, n], weights in the layout oneDNN picks (format any) and a
// scratchpad the caller passes (so concurrent calls from data-parallel replicas share nothing).
struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
};

// Shapes are few (a model's layers times its batch shapes); the bound only keeps a stream of
// new shapes (every text length) from growing the cache without end.
constexpr size_t kMaxMatmulShapes = 1024;

std::shared_ptr<const Matmul> matmul_for(int64_t m, int64_t n, int64_t k) {
  static std::shared_mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, std::shared_ptr<const Matmul>> cache;
  const auto key = std::make_tuple(m, n, k);
  {
    std::shared_lock lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const dnnl::memory::desc src({m, k}, dt::u8, tag::ab), weights({k, n}, dt::s8, tag::any),
      dst({m, n}, dt::s32, tag::ab);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, weights, dst), attr, cpu_engine());
  auto made = std::make_shared<const Matmul>(Matmul{pd, dnnl::matmul(pd)});
  std::unique_lock lock(mutex);
  if (cache.size() >= kMaxMatmulShapes) cache.clear();  // callers hold their own shared_ptr
  return cache.emplace(key, std::move(made)).first->second;
}

// b [n, k] row-major is the matmul's [k, n] weights in layout ba.
dnnl::memory::desc plain_weights(int64_t n, int64_t k) {
  return dnnl::memory::desc({k, n}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::ba);
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

dnnl::memory pack_weights(const dnnl::memory::desc& want, const int8_t* b, int64_t n, int64_t k) {
  dnnl::memory plain(plain_weights(n, k), cpu_engine(), const_cast<int8_t*>(b));
  if (want == plain.get_desc()) return plain;
  dnnl::memory packed(want, cpu_engine());
  dnnl::reorder(plain, packed).execute(thread_stream(), plain, packed);
  thread_stream().wait();
  return packed;
}

}  // namespace

struct Int8WeightCache::Impl {
  std::mutex mutex;
  // (weights, layout) -> packed weights; a layer has one or a few (one per row slice).
  std::vector<std::tuple<const int8_t*, int64_t, int64_t, dnnl::memory::desc, dnnl::memory>> packed;

  dnnl::memory get(const dnnl::memory::desc& want, const int8_t* b, int64_t n, int64_t k) {
    std::lock_guard lock(mutex);
    for (const auto& [w, wn, wk, desc, memory] : packed)
      if (w == b && wn == n && wk == k && desc == want) return memory;
    packed.emplace_back(b, n, k, want, pack_weights(want, b, n, k));
    return std::get<4>(packed.back());
  }
};

Int8WeightCache::Int8WeightCache() : impl_(std::make_unique<Impl>()) {}
Int8WeightCache::~Int8WeightCache() = default;

namespace {

// c = (a + offset) b^T in exact int32 through one oneDNN matmul; a_shifted holds a + offset as u8.
void matmul_shifted(const uint8_t* a_shifted, const int8_t* b, int64_t m, int64_t n, int64_t k, int32_t* c,
                    Int8WeightCache* cache) {
  try {
    const std::shared_ptr<const Matmul> mm = matmul_for(m, n, k);
    const dnnl::engine& engine = cpu_engine();
    dnnl::memory src(mm->pd.src_desc(), engine, const_cast<uint8_t*>(a_shifted));
    dnnl::memory dst(mm->pd.dst_desc(), engine, c);
    const dnnl::memory weights = cache ? cache->impl().get(mm->pd.weights_desc(), b, n, k)
                                       : pack_weights(mm->pd.weights_desc(), b, n, k);
    const dnnl::memory::desc pad_desc = mm->pd.scratchpad_desc();
    Scratch<uint8_t> pad(int64_t(pad_desc.get_size()));
    dnnl::memory scratchpad(pad_desc, engine, pad.data());
    mm->primitive.execute(thread_stream(), {{DNNL_ARG_SRC, src},
                                            {DNNL_ARG_WEIGHTS, weights},
                                            {DNNL_ARG_DST, dst},
                                            {DNNL_ARG_SCRATCHPAD, scratchpad}});
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    HEED_CHECK(false, "int8 GEMM: oneDNN matmul failed (", e.what(), ", status ", int(e.status),
               ") for m=", m, " n=", n, " k=", k);
  }
}

// oneDNN 2.6's AMX int8 matmul is up to 9x slower at some row counts (measured on a Sapphire
// Rapids, 768 x 768 weights: 203 us at 122 rows against 26 us at 128 and 6 us at 26), while a
// multiple of 32 rows and a tail of fewer than 32 both run at full speed: so calls are split so.
constexpr int64_t kRowBlock = 32;

void gemm_shifted(const uint8_t* a_shifted, const int8_t* b, int64_t m, int64_t n, int64_t k, int32_t* c,
                  Int8WeightCache* cache) {
  const int64_t head = m > kRowBlock ? m - m % kRowBlock : m;
  matmul_shifted(a_shifted, b, head, n, k, c, cache);
  if (head < m) matmul_shifted(a_shifted + head * k, b, m - head, n, k, c + head * n, cache);
}

}  // namespace

int int8_activation_levels() {
  static const int levels = has_vnni() ? 127 : 63;
  return levels;
}

void quantize_rows(const float* x, int64_t rows, int64_t cols, int levels, int8_t* q, float* scale) {
  HEED_CHECK(levels >= 1 && levels <= 127, "quantize_rows: levels must be in [1, 127], got ", levels);
  const int64_t bad_row = quantize_rows_offset(x, rows, cols, levels, 0, reinterpret_cast<uint8_t*>(q), scale);
  HEED_CHECK(bad_row < 0, "quantize_rows: row ", bad_row,
             " holds a non-finite value (NaN or infinity), which int8 cannot represent");
}

void dequantize_rows(const int8_t* q, const float* scale, int64_t rows, int64_t cols, float* x) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = float(q[r * cols + c]) * scale[r];
}

void int8_row_sums(const int8_t* q, int64_t rows, int64_t cols, int32_t* sums) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t s = 0;
    for (int64_t c = 0; c < cols; ++c) s += q[r * cols + c];
    sums[r] = s;
  }
}

void int8_gemm_nt(const int8_t* a, const int8_t* b, const int32_t* b_sums, int64_t m, int64_t n,
                  int64_t k, int32_t* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, 0);
    return;
  }
  // a + offset lies in [offset - levels, offset + levels], inside u8 (and, without VNNI, small
  // enough that two products fit in int16: 2 * 127 * 127 < 32768).
  const int levels = int8_activation_levels();
  const int offset = levels + 1;
  Scratch<uint8_t> shifted(m * k);
  bool out_of_range = false;
  for (int64_t i = 0; i < m * k; ++i) {
    out_of_range |= a[i] > levels || a[i] < -levels;
    shifted[i] = uint8_t(int(a[i]) + offset);
  }
  HEED_CHECK(!out_of_range, "int8_gemm_nt: an activation is outside [-", levels, ", ", levels,
             "], the range this CPU's int8 GEMM computes exactly (",
             levels == 127 ? "AVX-512 VNNI" : "no VNNI: 7-bit activations", ")");
  gemm_shifted(shifted.data(), b, m, n, k, c, nullptr);
  // sum_p (a + offset) b = sum_p a b + offset * sum_p b.
#pragma omp parallel for schedule(static) if (m * n >= kParallelElements)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * n + j] -= offset * b_sums[j];
}

void int8_linear(const float* x, int64_t m, int64_t k, const int8_t* w_q, const float* w_scale,
                 const int32_t* w_sums, int64_t n, const float* bias, float* y, Int8WeightCache* cache) {
  if (m == 0 || n == 0) return;
  // As int8_gemm_nt, with the activations quantised straight into their shifted u8 form and the
  // offset correction, both scales and the bias applied in one pass over the int32 result.
  const int levels = int8_activation_levels(), offset = levels + 1;
  Scratch<uint8_t> x_q(m * k);
  Scratch<float> x_scale(m);
  const int64_t bad_row = quantize_rows_offset(x, m, k, levels, offset, x_q.data(), x_scale.data());
  HEED_CHECK(bad_row < 0, "int8_linear: input row ", bad_row, " holds a non-finite value (NaN or infinity)");
  Scratch<int32_t> acc(m * n);
  if (k == 0) std::fill(acc.data(), acc.data() + m * n, 0);
  if (k > 0) gemm_shifted(x_q.data(), w_q, m, n, k, acc.data(), cache);
  int8_dequantize_output(acc.data(), m, n, offset, w_sums, x_scale.data(), w_scale, bias, y);
}

}  // namespace heed::kernels
