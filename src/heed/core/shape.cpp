#include "heed/core/shape.h"

#include "heed/core/error.h"

#include <algorithm>

namespace heed {

std::string shape_str(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// A zero-sized dim counts as 1 (as in PyTorch), so an empty tensor's strides stay those of its
// non-empty dims; their product can still overflow when numel (0) did not, hence the check.
Strides contiguous_strides(const Shape& shape) {
  Strides strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    if (i > 0)
      HEED_CHECK(!__builtin_mul_overflow(s, std::max<int64_t>(shape[i], 1), &s), "shape ",
                 shape_str(shape), ": strides overflow int64");
  }
  return strides;
}

int normalize_dim(int64_t dim, int64_t rank, const char* what) {
  int64_t d = dim < 0 ? dim + rank : dim;
  HEED_CHECK(d >= 0 && d < rank, what, ": dimension ", dim, " out of range for a tensor of rank ",
             rank);
  return static_cast<int>(d);
}

}  // namespace heed
