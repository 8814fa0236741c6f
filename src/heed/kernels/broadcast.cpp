#include "heed/kernels/broadcast.h"

#include <algorithm>

#include "heed/core/error.h"

namespace heed::kernels {

BroadcastPlan broadcast_plan(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  BroadcastPlan plan{Shape(rank, 1), Strides(rank, 0), Strides(rank, 0)};
  const Strides sa = contiguous_strides(a), sb = contiguous_strides(b);
  for (size_t i = 0; i < rank; ++i) {  // i counts from the right
    const size_t d = rank - 1 - i;
    const int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    HEED_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
               " do not broadcast (dimension ", d, ": ", da, " vs ", db, ")");
    plan.out[d] = da == 1 ? db : da;
    if (i < a.size() && da != 1) plan.a[d] = sa[a.size() - 1 - i];
    if (i < b.size() && db != 1) plan.b[d] = sb[b.size() - 1 - i];
  }
  return plan;
}

}  // namespace heed::kernels
