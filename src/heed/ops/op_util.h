// Helpers shared by the op files: input validation with messages that name the op.
#pragma once

#include "heed/autograd/variable.h"

namespace heed::detail {

// The Var's value as a contiguous f32 tensor; `op`/`arg` name the call in errors.
inline Tensor f32_input(const Var& v, const char* op, const char* arg) {
  HEED_CHECK(v.defined(), op, ": input '", arg, "' is undefined");
  HEED_CHECK(v.value().dtype() == DType::F32, op, ": input '", arg, "' must be f32, got ",
             v.value().str());
  return v.value().contiguous();
}

// For backwards recorded with FreshGrad::kUndefined: readies *g for input gradient of `shape`
// and returns the beta to write it with. 1 when it already holds contributions (add to them);
// 0 when it was undefined: it is now allocated, uninitialised, and every element must be
// written.
inline float prepare_gradient(Tensor* g, const Shape& shape) {
  if (g->defined()) return 1.f;
  *g = Tensor::empty(shape);
  return 0.f;
}

}  // namespace heed::detail
