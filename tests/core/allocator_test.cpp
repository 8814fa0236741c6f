// The storage allocator's cache of freed large blocks (core/allocator.h): size classes, so blocks
// of varying sizes are reused, and a bound at the peak of storage in use, so a workload whose
// shapes change every batch (padded text) cannot fill memory with blocks it never asks for again.
#include "heed/core/allocator.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace heed {
namespace {

TEST(Allocator, SizeClassesAreAtMostAQuarterOver) {
  // Small blocks: a multiple of 64 bytes.
  EXPECT_EQ(allocation_size(1), 64u);
  EXPECT_EQ(allocation_size(65), 128u);
  // Large ones: four classes per power of two, [2^k, 2^(k+1)) in steps of 2^k / 4.
  EXPECT_EQ(allocation_size(size_t{64} << 10), size_t{64} << 10);
  EXPECT_EQ(allocation_size((size_t{64} << 10) + 1), size_t{80} << 10);
  EXPECT_EQ(allocation_size(size_t{100} << 10), size_t{112} << 10);
  EXPECT_EQ(allocation_size(size_t{1} << 20), size_t{1} << 20);
  EXPECT_EQ(allocation_size((size_t{1} << 20) + 1), size_t{1280} << 10);
  for (size_t n = size_t{64} << 10; n < (size_t{64} << 20); n = n * 9 / 8 + 4097) {
    const size_t got = allocation_size(n);
    EXPECT_GE(got, n);
    EXPECT_LE(double(got), 1.25 * double(n)) << n;
    EXPECT_EQ(got % 64, 0u);
  }
}

TEST(Allocator, ABlockOfTheSameClassIsReused) {
  release_cached_memory();
  const AllocatorStats before = allocator_stats();
  void* a = allocate_aligned(size_t{100} << 10);
  free_aligned(a, size_t{100} << 10);
  void* b = allocate_aligned(size_t{110} << 10);  // another size, the same class (112 KiB)
  const AllocatorStats after = allocator_stats();
  free_aligned(b, size_t{110} << 10);
  if (!before.cache_enabled) {  // under AddressSanitizer every block goes back to the system
    EXPECT_EQ(after.cached_bytes, 0u);
    return;
  }
  EXPECT_EQ(b, a);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
}

TEST(Allocator, VaryingSizesStayWithinThePeakInUse) {
  release_cached_memory();
  // Batches whose tensors change size every step, as padded text batches do: at most 8 MiB in
  // use at once, 2,000 different request sizes over the run.
  uint64_t state = 12345;
  size_t peak_request = 0;
  for (int step = 0; step < 2000; ++step) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const size_t bytes = (size_t{1} << 20) + (state >> 33) % (size_t{7} << 20);
    peak_request = std::max(peak_request, allocation_size(bytes));
    void* p = allocate_aligned(bytes);
    static_cast<char*>(p)[bytes - 1] = 1;
    free_aligned(p, bytes);
    const AllocatorStats s = allocator_stats();
    ASSERT_LE(s.cached_bytes, s.cache_limit) << "step " << step;
    // Tests before this one may have raised the peak, never beyond 4 GiB; 64 MiB is the floor.
    ASSERT_LE(s.cache_limit, size_t{4} << 30);
    ASSERT_GE(s.cache_limit, size_t{64} << 20);
  }
  const AllocatorStats s = allocator_stats();
  if (s.cache_enabled) {
    // Twelve size classes cover 1-8 MiB, so nearly every request was a hit.
    EXPECT_GT(s.cache_hits, 1900u);
    EXPECT_LE(s.cached_bytes, s.cache_limit);
  }
  release_cached_memory();
  EXPECT_EQ(allocator_stats().cached_bytes, 0u);
}

TEST(Allocator, AFullCacheDropsItsOldestBlocks) {
  release_cached_memory();
  // One block at a time, each of a new size class, so far more is freed over time than is ever
  // in use at once: the cache keeps the newest and drops the oldest.
  std::vector<size_t> sizes;
  size_t total = 0;
  for (size_t bytes = size_t{1} << 20; total <= allocator_stats().cache_limit + (size_t{16} << 20);
       bytes = allocation_size(bytes + 1)) {
    void* p = allocate_aligned(bytes);
    free_aligned(p, bytes);
    sizes.push_back(bytes);
    total += allocation_size(bytes);
  }
  const AllocatorStats full = allocator_stats();
  if (!full.cache_enabled) {  // under AddressSanitizer every block goes back to the system
    EXPECT_EQ(full.cached_bytes, 0u);
    return;
  }
  EXPECT_LE(full.cached_bytes, full.cache_limit);
  EXPECT_LT(full.cached_bytes, total);
  const size_t hits = full.cache_hits;
  void* newest = allocate_aligned(sizes.back());
  EXPECT_EQ(allocator_stats().cache_hits, hits + 1) << "the newest block was dropped";
  free_aligned(newest, sizes.back());
  void* oldest = allocate_aligned(sizes.front());
  EXPECT_EQ(allocator_stats().cache_hits, hits + 1) << "the oldest block was kept";
  free_aligned(oldest, sizes.front());
  release_cached_memory();
}

}  // namespace
}  // namespace heed
