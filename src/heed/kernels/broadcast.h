// NumPy-style broadcasting for binary element-wise ops: shapes are aligned from the right and a
// dimension of 1 stretches. A plan holds the output shape and each operand's element strides
// over it (0 along stretched dimensions).
#pragma once

#include <cstdint>
#include <vector>

#include "heed/core/shape.h"

namespace heed::kernels {

struct BroadcastPlan {
  Shape out;
  Strides a, b;  // per output dimension; 0 where the operand is broadcast
};

// Throws heed::Error naming `op` and both shapes when they do not broadcast.
BroadcastPlan broadcast_plan(const Shape& a, const Shape& b, const char* op);

// Calls f(i, ia, ib) for every output element i in row-major order with the operands' offsets.
template <class F>
void for_each_broadcast(const BroadcastPlan& plan, F&& f) {
  const int64_t n = numel_of(plan.out);
  if (n == 0) return;
  const size_t rank = plan.out.size();
  if (rank == 0) {
    f(int64_t{0}, int64_t{0}, int64_t{0});
    return;
  }
  const int64_t inner = plan.out[rank - 1];
  const int64_t sa = plan.a[rank - 1], sb = plan.b[rank - 1];
  std::vector<int64_t> index(rank, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t j = 0; j < inner; ++j) f(i + j, oa + j * sa, ob + j * sb);
    for (size_t d = rank - 1; d-- > 0;) {  // advance the outer dimensions like an odometer
      if (++index[d] < plan.out[d]) {
        oa += plan.a[d];
        ob += plan.b[d];
        break;
      }
      oa -= plan.a[d] * (plan.out[d] - 1);
      ob -= plan.b[d] * (plan.out[d] - 1);
      index[d] = 0;
    }
  }
}

}  // namespace heed::kernels
