#include "heed/core/allocator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <deque>
#include <list>
#include <mutex>
#include <new>
#include <unordered_map>

namespace heed {

namespace {
constexpr size_t kAlignment = 64;
constexpr size_t kCachedMin = size_t{64} << 10;  // smaller blocks: glibc's bins do well
constexpr size_t kGranule = size_t{4} << 10;
constexpr size_t kCacheLimit = size_t{4} << 30;  // never hold more than this unused
constexpr size_t kCacheFloor = size_t{64} << 20;  // the cache may always hold this much

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

struct Block {
  size_t size;
  void* ptr;
};

// Free blocks by size class, with the order they were freed in: a full cache drops its oldest
// blocks first, so sizes a workload no longer uses (the last epoch's batch shapes) leave.
struct Cache {
  std::mutex mutex;
  std::list<Block> by_age;  // oldest first
  std::unordered_map<size_t, std::deque<std::list<Block>::iterator>> by_size;  // oldest first
  size_t cached = 0, hits = 0, misses = 0;
  size_t peak_live = 0;  // the most storage ever in use at once

  // Blocks beyond what was ever live at once cannot all be needed by one step.
  size_t limit() const { return std::min(kCacheLimit, std::max(kCacheFloor, peak_live)); }
  void drop_oldest() {
    const Block b = by_age.front();
    std::deque<std::list<Block>::iterator>& same = by_size[b.size];
    same.pop_front();  // by_age's oldest is the oldest of its size
    if (same.empty()) by_size.erase(b.size);
    by_age.pop_front();
    cached -= b.size;
    std::free(b.ptr);
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may be freed during static teardown
  return *c;
}

// Storage in use, for allocator_stats (a leak shows as live bytes that keep growing).
std::atomic<size_t> g_live_bytes{0}, g_live_blocks{0};

// Small blocks: a multiple of the alignment. Large ones: a size class, four per power of two
// (at most 25% over the request, 12% on average), so tensors whose shapes vary from batch to
// batch (text batches padded to their longest member) reuse each other's blocks.
size_t rounded_size(size_t bytes) {
  const size_t n = bytes < 1 ? 1 : bytes;
  if (n < kCachedMin) return (n + kAlignment - 1) / kAlignment * kAlignment;
  const size_t step = std::max(kGranule, std::bit_floor(n) / 4);
  return (n + step - 1) / step * step;
}
}  // namespace

void* allocate_aligned(size_t bytes) {
  const size_t size = rounded_size(bytes);
  const size_t live = g_live_bytes.fetch_add(size, std::memory_order_relaxed) + size;
  g_live_blocks.fetch_add(1, std::memory_order_relaxed);
  if (kCacheEnabled && size >= kCachedMin) {
    Cache& c = cache();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.peak_live = std::max(c.peak_live, live);
    auto it = c.by_size.find(size);
    if (it != c.by_size.end()) {  // the most recently freed block of this size: warmest in cache
      const std::list<Block>::iterator block = it->second.back();
      void* p = block->ptr;
      it->second.pop_back();
      if (it->second.empty()) c.by_size.erase(it);
      c.by_age.erase(block);
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
    if (size <= c.limit()) {
      c.by_size[size].push_back(c.by_age.insert(c.by_age.end(), Block{size, ptr}));
      c.cached += size;
      while (c.cached > c.limit()) c.drop_oldest();
      return;
    }
  }
  std::free(ptr);
}

size_t allocation_size(size_t bytes) { return rounded_size(bytes); }

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return {c.cached, c.hits, c.misses, g_live_bytes.load(), g_live_blocks.load(), c.limit(), kCacheEnabled};
}

void release_cached_memory() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  while (!c.by_age.empty()) c.drop_oldest();
}

}  // namespace heed
