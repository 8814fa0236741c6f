#include "heed/autograd/variable.h"

#include <unordered_set>

#include "heed/kernels/elementwise.h"

namespace heed {

namespace {
thread_local bool g_grad_enabled = true;

// Adds `src` into `dst`, allocating `dst` (as a copy) on first use.
void accumulate(Tensor& dst, const Tensor& src) {
  if (!dst.defined()) {
    dst = src.contiguous().clone();
    return;
  }
  kernels::add_inplace(dst.f32(), src.contiguous().f32(), dst.numel());
}

// Slots reachable from `root` in reverse topological order (consumers before producers).
// Owning pointers: running a node drops its links upstream, which must not free slots still
// waiting in the list. Iterative DFS: graphs of deep models must not overflow the stack.
std::vector<std::shared_ptr<GradSlot>> reverse_topological(const std::shared_ptr<GradSlot>& root) {
  std::vector<std::shared_ptr<GradSlot>> post_order;
  std::unordered_set<GradSlot*> visited{root.get()};
  std::vector<std::pair<std::shared_ptr<GradSlot>, size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    Node* node = stack.back().first->grad_fn.get();
    size_t& next = stack.back().second;
    if (node && next < node->inputs.size()) {
      const std::shared_ptr<GradSlot>& child = node->inputs[next++];
      if (child && visited.insert(child.get()).second) stack.push_back({child, 0});
      continue;
    }
    post_order.push_back(std::move(stack.back().first));
    stack.pop_back();
  }
  return {post_order.rbegin(), post_order.rend()};
}
}  // namespace

Var::Var(Tensor value, bool requires_grad) : value_(std::move(value)) {
  if (requires_grad) {
    HEED_CHECK(value_.dtype() == DType::F32, "Var: only f32 tensors can require gradients, got ",
               value_.str());
    slot_ = std::make_shared<GradSlot>();
    slot_->requires_grad = true;
  }
}

const Tensor& Var::grad() const {
  static const Tensor undefined;
  return slot_ ? slot_->grad : undefined;
}

Tensor& Var::grad() {
  HEED_CHECK(slot_, "Var::grad: this Var does not require gradients");
  return slot_->grad;
}

void Var::zero_grad() {
  if (slot_) slot_->grad = Tensor();
}

void Var::backward() const {
  HEED_CHECK(value_.numel() == 1, "backward: without a seed the output must have one element, got ",
             value_.str());
  backward(Tensor::full(value_.shape(), 1.0f));
}

void Var::backward(const Tensor& seed) const {
  HEED_CHECK(requires_grad(), "backward: the output does not require gradients (no input did, or "
                              "it was computed under NoGradGuard)");
  HEED_CHECK(seed.shape() == value_.shape(), "backward: seed ", seed.str(), " does not match output ",
             value_.str());
  accumulate(slot_->grad, seed);
  for (const std::shared_ptr<GradSlot>& slot : reverse_topological(slot_)) {
    Node* node = slot->grad_fn.get();
    if (!node) continue;  // a leaf: its gradient stays
    HEED_CHECK(node->backward, "backward: the graph through '", node->name,
               "' was already used by an earlier backward() and its saved tensors were freed");
    std::vector<Tensor*> gx(node->inputs.size(), nullptr);
    for (size_t i = 0; i < node->inputs.size(); ++i) {
      GradSlot* in = node->inputs[i].get();
      if (!in) continue;
      if (!in->grad.defined() && node->fresh == FreshGrad::kZeroed)
        in->grad = Tensor::zeros(node->input_shapes[i]);
      gx[i] = &in->grad;
    }
    if (slot->grad.defined()) node->backward(slot->grad, gx);
    for (size_t i = 0; i < gx.size(); ++i)
      HEED_CHECK(!gx[i] || (gx[i]->defined() && gx[i]->shape() == node->input_shapes[i]),
                 "backward: '", node->name, "' left the gradient of input ", i,
                 " unset or misshapen (an op recorded with FreshGrad::kUndefined must set it)");
    // Free the saved activations and the links upstream; the spent node stays so that a second
    // backward through it is reported instead of silently stopping here.
    node->backward = nullptr;
    node->inputs.clear();
    slot->grad = Tensor();  // intermediate gradients are not kept
  }
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Var make_result(Tensor out, const char* name, const std::vector<const Var*>& inputs,
                BackwardFn backward, FreshGrad fresh) {
  bool needs = false;
  if (g_grad_enabled)
    for (const Var* v : inputs) needs = needs || (v && v->requires_grad());
  if (!needs) return Var(std::move(out));
  auto node = std::make_shared<Node>();
  node->name = name;
  for (const Var* v : inputs) {
    node->inputs.push_back(v && v->requires_grad() ? v->slot() : nullptr);
    node->input_shapes.push_back(v && v->defined() ? v->shape() : Shape{});
  }
  node->backward = std::move(backward);
  node->fresh = fresh;
  Var result(std::move(out), true);
  result.slot()->grad_fn = std::move(node);
  return result;
}

Var make_result(Tensor out, const char* name, std::initializer_list<const Var*> inputs,
                BackwardFn backward, FreshGrad fresh) {
  return make_result(std::move(out), name, std::vector<const Var*>(inputs), std::move(backward),
                     fresh);
}

}  // namespace heed
