#include "heed/kernels/onednn_matmul.h"

#include <dnnl.h>

#include <algorithm>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "heed/core/allocator.h"
#include "heed/core/error.h"

namespace heed::kernels {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dt onednn_type(MatmulType t) {
  switch (t) {
    case MatmulType::U8: return dt::u8;
    case MatmulType::S8: return dt::s8;
    case MatmulType::S32: return dt::s32;
    case MatmulType::BF16: return dt::bf16;
    case MatmulType::F32: return dt::f32;
  }
  return dt::undef;
}

int64_t type_bytes(MatmulType t) {
  return t == MatmulType::U8 || t == MatmulType::S8 ? 1 : t == MatmulType::BF16 ? 2 : 4;
}

const char* type_name(MatmulType t) {
  switch (t) {
    case MatmulType::U8: return "u8";
    case MatmulType::S8: return "s8";
    case MatmulType::S32: return "s32";
    case MatmulType::BF16: return "bf16";
    case MatmulType::F32: return "f32";
  }
  return "?";
}

bool isa_at_least(dnnl_cpu_isa_t wanted) {
  const unsigned isa = unsigned(dnnl_get_effective_cpu_isa()), bits = unsigned(wanted);
  return (isa & bits) == bits;  // oneDNN's ISA values are nested bit sets
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

struct Matmul {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul primitive;
};

// Shapes are few (a model's layers times its batch shapes); the bound only keeps a stream of
// new shapes (every text length) from growing the cache without end.
constexpr size_t kMaxMatmulShapes = 1024;

using MatmulKey = std::tuple<int64_t, int64_t, int64_t, int, int, int, bool>;

std::shared_ptr<const Matmul> matmul_for(const MatmulSpec& s) {
  static std::shared_mutex mutex;
  static std::map<MatmulKey, std::shared_ptr<const Matmul>> cache;
  const MatmulKey key{s.m, s.n, s.k, int(s.a), int(s.b), int(s.c), s.bias};
  {
    std::shared_lock lock(mutex);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
  }
  const dnnl::memory::desc src({s.m, s.k}, onednn_type(s.a), tag::ab),
      weights({s.k, s.n}, onednn_type(s.b), tag::any), dst({s.m, s.n}, onednn_type(s.c), tag::ab);
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::desc desc = s.bias ? dnnl::matmul::desc(src, weights, dnnl::memory::desc({1, s.n}, dt::f32, tag::ab), dst)
                                         : dnnl::matmul::desc(src, weights, dst);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  auto made = std::make_shared<const Matmul>(Matmul{pd, dnnl::matmul(pd)});
  std::unique_lock lock(mutex);
  if (cache.size() >= kMaxMatmulShapes) cache.clear();  // callers hold their own shared_ptr
  return cache.emplace(key, std::move(made)).first->second;
}

// b [n, k] row-major is the matmul's [k, n] weights in layout ba.
dnnl::memory pack_weights(const dnnl::memory::desc& want, MatmulType type, const void* b, int64_t n, int64_t k) {
  dnnl::memory plain(dnnl::memory::desc({k, n}, onednn_type(type), tag::ba), cpu_engine(), const_cast<void*>(b));
  if (want == plain.get_desc()) return plain;
  dnnl::memory packed(want, cpu_engine());
  dnnl::reorder(plain, packed).execute(thread_stream(), plain, packed);
  thread_stream().wait();
  return packed;
}

}  // namespace

struct PackedWeightCache::Impl {
  std::mutex mutex;
  // (weights, shape, layout) -> packed weights; a layer has one or a few (one per row slice).
  std::vector<std::tuple<const void*, int64_t, int64_t, dnnl::memory::desc, dnnl::memory>> packed;

  dnnl::memory get(const dnnl::memory::desc& want, MatmulType type, const void* b, int64_t n, int64_t k) {
    std::lock_guard lock(mutex);
    for (const auto& [w, wn, wk, desc, memory] : packed)
      if (w == b && wn == n && wk == k && desc == want) return memory;
    packed.emplace_back(b, n, k, want, pack_weights(want, type, b, n, k));
    return std::get<4>(packed.back());
  }
};

PackedWeightCache::PackedWeightCache() : impl_(std::make_unique<Impl>()) {}
PackedWeightCache::~PackedWeightCache() = default;

namespace {

void run_matmul(const MatmulSpec& s, const void* a, const void* b, const float* bias, void* c,
                PackedWeightCache* cache) {
  try {
    const std::shared_ptr<const Matmul> mm = matmul_for(s);
    const dnnl::engine& engine = cpu_engine();
    dnnl::memory src(mm->pd.src_desc(), engine, const_cast<void*>(a));
    dnnl::memory dst(mm->pd.dst_desc(), engine, c);
    const dnnl::memory weights = cache ? cache->impl().get(mm->pd.weights_desc(), s.b, b, s.n, s.k)
                                       : pack_weights(mm->pd.weights_desc(), s.b, b, s.n, s.k);
    const dnnl::memory::desc pad_desc = mm->pd.scratchpad_desc();
    ScratchBuffer<uint8_t> pad(int64_t(pad_desc.get_size()));
    dnnl::memory scratchpad(pad_desc, engine, pad.data());
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src},
                                               {DNNL_ARG_WEIGHTS, weights},
                                               {DNNL_ARG_DST, dst},
                                               {DNNL_ARG_SCRATCHPAD, scratchpad}};
    if (s.bias)
      args.emplace(DNNL_ARG_BIAS, dnnl::memory(mm->pd.bias_desc(), engine, const_cast<float*>(bias)));
    mm->primitive.execute(thread_stream(), args);
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    HEED_CHECK(false, "oneDNN matmul failed (", e.what(), ", status ", int(e.status), ") for m=", s.m,
               " n=", s.n, " k=", s.k, " ", type_name(s.a), " x ", type_name(s.b), " -> ", type_name(s.c));
  }
}

// oneDNN 2.6's AMX matmuls are up to 9x slower at some row counts (measured on a Sapphire Rapids,
// int8, 768 x 768 weights: 203 us at 122 rows against 26 us at 128 and 6 us at 26), while a
// multiple of 32 rows and a tail of fewer than 32 both run at full speed: so calls are split so.
constexpr int64_t kRowBlock = 32;

}  // namespace

void onednn_matmul_nt(const MatmulSpec& spec, const void* a, const void* b, const float* bias, void* c,
                      PackedWeightCache* cache) {
  HEED_CHECK(!spec.bias || bias, "onednn_matmul_nt: the spec asks for a bias but none was given");
  if (spec.m == 0 || spec.n == 0) return;
  const int64_t head = spec.m > kRowBlock ? spec.m - spec.m % kRowBlock : spec.m;
  MatmulSpec first = spec;
  first.m = head;
  run_matmul(first, a, b, bias, c, cache);
  if (head < spec.m) {
    MatmulSpec tail = spec;
    tail.m = spec.m - head;
    run_matmul(tail, static_cast<const char*>(a) + head * spec.k * type_bytes(spec.a), b, bias,
               static_cast<char*>(c) + head * spec.n * type_bytes(spec.c), cache);
  }
}

bool onednn_has_vnni() { return isa_at_least(dnnl_cpu_isa_avx512_core_vnni); }
bool onednn_has_bf16() { return isa_at_least(dnnl_cpu_isa_avx512_core_bf16); }

}  // namespace heed::kernels
