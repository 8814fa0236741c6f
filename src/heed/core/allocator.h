// Host memory for tensor storage: 64-byte aligned, with a cache of freed large blocks.
//
// Why a cache: glibc serves large blocks with fresh mmap'd pages and unmaps them on free, so a
// training step that allocates the same activation sizes every iteration page-faults on all of
// them (measured: ~16% of a ViT training step was the kernel clearing pages). Freed blocks of
// 64 KiB and more are kept, keyed by exact (4 KiB-rounded) size, up to a bounded total, and
// handed out again. The cache is off under AddressSanitizer so use-after-free stays detectable.
#pragma once

#include <cstddef>

namespace heed {

void* allocate_aligned(size_t bytes);
void free_aligned(void* ptr, size_t bytes);

struct AllocatorStats {
  size_t cached_bytes, cache_hits, cache_misses;
  size_t live_bytes, live_blocks;  // handed out and not yet freed (tensor storage in use)
};
AllocatorStats allocator_stats();
void release_cached_memory();  // returns every cached block to the system

}  // namespace heed
