// Strided copy: the kernel behind Tensor::contiguous() / copy_() for permuted and sliced views.
#pragma once

#include <cstdint>
#include <vector>

namespace heed {

// Copies a tensor of `shape` between two strided layouts (strides in elements of size
// `element_size`). Dimensions are merged where both layouts allow, rows whose last dimension is
// contiguous in both go through memcpy, and rows are split across threads.
void strided_copy(const void* src, const std::vector<int64_t>& src_strides, void* dst,
                  const std::vector<int64_t>& dst_strides, const std::vector<int64_t>& shape,
                  int64_t element_size);

}  // namespace heed
