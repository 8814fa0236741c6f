#include "heed/core/strided_copy.h"

#include <cstring>

namespace heed {

namespace {
struct Layout {
  std::vector<int64_t> shape, src, dst;
};

// Drops size-1 dimensions and merges neighbours that are contiguous in both layouts, so a
// permute of [B, T, 3, H, D] becomes a few long rows instead of many short ones.
Layout simplify(const std::vector<int64_t>& shape, const std::vector<int64_t>& src,
                const std::vector<int64_t>& dst) {
  Layout l;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!l.shape.empty() && l.src.back() == src[d] * shape[d] && l.dst.back() == dst[d] * shape[d]) {
      l.shape.back() *= shape[d];
      l.src.back() = src[d];
      l.dst.back() = dst[d];
      continue;
    }
    l.shape.push_back(shape[d]);
    l.src.push_back(src[d]);
    l.dst.push_back(dst[d]);
  }
  if (l.shape.empty()) l = {{1}, {1}, {1}};
  return l;
}
}  // namespace

void strided_copy(const void* src_ptr, const std::vector<int64_t>& src_strides, void* dst_ptr,
                  const std::vector<int64_t>& dst_strides, const std::vector<int64_t>& shape,
                  int64_t es) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  if (n == 0) return;
  const Layout l = simplify(shape, src_strides, dst_strides);
  const size_t rank = l.shape.size();
  const int64_t inner = l.shape[rank - 1], rows = n / inner;
  const bool contiguous_rows = l.src[rank - 1] == 1 && l.dst[rank - 1] == 1;
  const auto* src = static_cast<const std::byte*>(src_ptr);
  auto* dst = static_cast<std::byte*>(dst_ptr);
#pragma omp parallel for schedule(static) if (n * es > (1 << 16) && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t so = 0, dof = 0, rest = r;  // offsets of row r: decompose r over the outer dims
    for (size_t d = rank - 1; d-- > 0;) {
      const int64_t i = rest % l.shape[d];
      rest /= l.shape[d];
      so += i * l.src[d];
      dof += i * l.dst[d];
    }
    if (contiguous_rows) {
      std::memcpy(dst + dof * es, src + so * es, size_t(inner * es));
    } else {
      for (int64_t j = 0; j < inner; ++j)
        std::memcpy(dst + (dof + j * l.dst[rank - 1]) * es, src + (so + j * l.src[rank - 1]) * es,
                    size_t(es));
    }
  }
}

}  // namespace heed
