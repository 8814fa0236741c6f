// Host memory for tensor storage: 64-byte aligned, with a cache of freed large blocks.
//
// Why a cache: glibc serves large blocks with fresh mmap'd pages and unmaps them on free, so a
// training step that allocates the same activation sizes every iteration page-faults on all of
// them (measured: ~16% of a ViT training step was the kernel clearing pages). Freed blocks of
// 64 KiB and more are kept, by size class (four per power of two, so varying batch shapes share
// blocks), and handed out again. The cache holds at most the peak of storage ever in use at once
// (at least 64 MiB, at most 4 GiB), dropping the longest-unused blocks first. The cache is off under AddressSanitizer so use-after-free stays detectable.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace heed {

void* allocate_aligned(size_t bytes);
void free_aligned(void* ptr, size_t bytes);

struct AllocatorStats {
  size_t cached_bytes, cache_hits, cache_misses;
  size_t live_bytes, live_blocks;  // handed out and not yet freed (tensor storage in use)
  size_t cache_limit;              // what the cache may hold now
  bool cache_enabled;              // false under AddressSanitizer
};
AllocatorStats allocator_stats();
// The bytes a request of `bytes` occupies (its size class for large blocks).
size_t allocation_size(size_t bytes);
void release_cached_memory();  // returns every cached block to the system

// A kernel's temporary buffer of `count` T's from this allocator, whose block cache hands the
// same blocks to the next call (fresh pages from the system cost more than a small layer's GEMM).
template <class T>
class ScratchBuffer {
 public:
  explicit ScratchBuffer(int64_t count)
      : bytes_(std::max<size_t>(1, static_cast<size_t>(count) * sizeof(T))),
        data_(static_cast<T*>(allocate_aligned(bytes_))) {}
  ~ScratchBuffer() { free_aligned(data_, bytes_); }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  T* data() { return data_; }
  T& operator[](int64_t i) { return data_[i]; }

 private:
  size_t bytes_;
  T* data_;
};

}  // namespace heed
