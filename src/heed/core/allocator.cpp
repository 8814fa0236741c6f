#include "heed/core/allocator.h"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace heed {

namespace {
constexpr size_t kAlignment = 64;
constexpr size_t kCachedMin = size_t{64} << 10;  // smaller blocks: glibc's bins do well
constexpr size_t kGranule = size_t{4} << 10;
constexpr size_t kCacheLimit = size_t{4} << 30;  // never hold more than this unused

// GCC defines __SANITIZE_ADDRESS__ under ASan; clang (before 17) only has __has_feature.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheEnabled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kCacheEnabled = false;
#else
constexpr bool kCacheEnabled = true;
#endif
#else
constexpr bool kCacheEnabled = true;
#endif

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0, hits = 0, misses = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

// Storage in use, for allocator_stats (a leak shows as live bytes that keep growing).
std::atomic<size_t> g_live_bytes{0}, g_live_blocks{0};

size_t rounded_size(size_t bytes) {
  const size_t n = bytes < 1 ? 1 : bytes;
  return n >= kCachedMin ? (n + kGranule - 1) / kGranule * kGranule
                         : (n + kAlignment - 1) / kAlignment * kAlignment;
}
}  // namespace

void* allocate_aligned(size_t bytes) {
  const size_t size = rounded_size(bytes);
  g_live_bytes.fetch_add(size, std::memory_order_relaxed);
  g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  if (kCacheEnabled && size >= kCachedMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      ++c.hits;
      return p;
    }
    ++c.misses;
  }
  void* p = std::aligned_alloc(kAlignment, size);
  if (!p) {
    g_live_bytes.fetch_sub(size, std::memory_order_relaxed);
    g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
  return p;
}

void free_aligned(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t size = rounded_size(bytes);
  g_live_bytes.fetch_sub(size, std::memory_order_relaxed);
  g_live_blocks.fetch_sub(1, std::memory_order_relaxed);
  if (kCacheEnabled && size >= kCachedMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    if (c.cached + size <= kCacheLimit) {
      c.free_blocks[size].push_back(ptr);
      c.cached += size;
      return;
    }
  }
  std::free(ptr);
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.cached, c.hits, c.misses, g_live_bytes.load(), g_live_blocks.load()};
}

void release_cached_memory() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* p : blocks) std::free(p);
  c.free_blocks.clear();
  c.cached = 0;
}

}  // namespace heed
