// Shapes and strides: plain vectors of int64_t, printed as [2, 3, 4] in error messages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heed {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

std::string shape_str(const Shape& shape);
int64_t numel_of(const Shape& shape);
Strides contiguous_strides(const Shape& shape);
// Maps a possibly negative dimension index onto [0, rank); `what` names the caller in errors.
int normalize_dim(int64_t dim, int64_t rank, const char* what);

}  // namespace heed
