// Reverse-mode autodiff: a define-by-run graph recorded as ops run.
//
// A Var pairs a value Tensor with a GradSlot (its autograd metadata). An op that has any input
// requiring a gradient records a Node holding the input slots and a backward closure, which
// captures exactly the tensors the backward needs (and nothing else, so unneeded activations are
// freed early). `backward()` visits slots in reverse topological order; every node's backward ADDS
// into its inputs' gradients, so parameters used twice, and gradients over several backward calls,
// accumulate. After a node has run, its closure is released: saved activations are freed.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "heed/core/tensor.h"

namespace heed {

struct Node;

struct GradSlot {
  Tensor grad;                     // same shape as the value; allocated on first accumulation
  std::shared_ptr<Node> grad_fn;   // producer; null for leaves
  bool requires_grad = false;
};

// gx[i] is the gradient buffer of input i, or nullptr when input i needs no gradient.
// The backward must add its contribution into every non-null gx[i].
using BackwardFn = std::function<void(const Tensor& gy, std::span<Tensor* const> gx)>;

// How a node's backward receives gradient buffers that nothing has written yet.
enum class FreshGrad {
  kZeroed,     // allocated and zero-filled by the engine: the backward adds into them
  kUndefined,  // left undefined: the backward must set them to a tensor of the input's shape
               // (ops/op_util.h: prepare_gradient), saving a zero-fill and a read per element
};

struct Node {
  const char* name;  // op name, for error messages
  std::vector<std::shared_ptr<GradSlot>> inputs;  // null where the input needs no gradient
  std::vector<Shape> input_shapes;                 // to allocate input gradients lazily
  BackwardFn backward;
  FreshGrad fresh = FreshGrad::kZeroed;
};

class Var {
 public:
  Var() = default;  // undefined (e.g. an absent bias)
  explicit Var(Tensor value, bool requires_grad = false);

  bool defined() const { return value_.defined(); }
  const Tensor& value() const { return value_; }
  Tensor& value() { return value_; }  // in-place updates by optimisers, outside the graph
  const Shape& shape() const { return value_.shape(); }
  int64_t size(int64_t d) const { return value_.size(d); }
  bool requires_grad() const { return slot_ && slot_->requires_grad; }
  bool is_leaf() const { return !slot_ || !slot_->grad_fn; }

  // Accumulated gradient (undefined until a backward reaches this Var).
  const Tensor& grad() const;
  Tensor& grad();
  void zero_grad();  // drops the gradient buffer

  // Back-propagates from this Var. Without a seed the Var must hold one element (seed = 1).
  void backward() const;
  void backward(const Tensor& seed) const;

  const std::shared_ptr<GradSlot>& slot() const { return slot_; }

 private:
  Tensor value_;
  std::shared_ptr<GradSlot> slot_;
};

// Gradient recording switch (thread-local). Inference code wraps itself in a NoGradGuard.
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Wraps an op's output: records a Node when grad mode is on and any input requires a gradient.
// `inputs` may contain undefined Vars (optional inputs); they get nullptr gradient buffers.
Var make_result(Tensor out, const char* name, std::initializer_list<const Var*> inputs,
                BackwardFn backward, FreshGrad fresh = FreshGrad::kZeroed);
Var make_result(Tensor out, const char* name, const std::vector<const Var*>& inputs,
                BackwardFn backward, FreshGrad fresh = FreshGrad::kZeroed);

}  // namespace heed
