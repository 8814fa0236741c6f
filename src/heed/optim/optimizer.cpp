#include "heed/optim/optimizer.h"

#include <cmath>
#include <set>
#include <utility>

#include "heed/kernels/optimizer_update.h"

namespace heed::optim {

bool default_weight_decay(const std::string& name, const Shape& shape) {
  if (shape.size() < 2) return false;
  if (name.ends_with("pos_embed") || name.ends_with("cls_token")) return false;
  return name.find("embedding") == std::string::npos;
}

std::vector<Param> make_params(const std::vector<std::pair<std::string, Var*>>& named) {
  std::vector<Param> params;
  params.reserve(named.size());
  for (const auto& [name, var] : named) {
    HEED_CHECK(var, "make_params: parameter '", name, "' is null");
    params.push_back({name, var, default_weight_decay(name, var->shape())});
  }
  return params;
}

bool grads_finite(const std::vector<Param>& params) {
  for (const Param& p : params) {
    HEED_CHECK(p.var, "grads_finite: parameter '", p.name, "' is null");
    const Tensor& grad = std::as_const(*p.var).grad();
    if (!grad.defined()) continue;
    const Tensor g = grad.contiguous();
    if (!kernels::all_finite(g.f32(), g.numel())) return false;
  }
  return true;
}

namespace {

void check_lr_value(float lr, const char* kind) {
  HEED_CHECK(std::isfinite(lr) && lr >= 0.0f, kind, ": lr must be finite and >= 0, got ", lr);
}

}  // namespace

Optimizer::Optimizer(std::vector<Param> params, float lr, const char* kind)
    : params_(std::move(params)), lr_(lr), kind_(kind) {
  check_lr_value(lr, kind_);
  HEED_CHECK(!params_.empty(), kind_, ": the parameter list is empty");
  std::set<std::string> names;
  for (const Param& p : params_) {
    HEED_CHECK(!p.name.empty(), kind_, ": a parameter has an empty name");
    HEED_CHECK(names.insert(p.name).second, kind_, ": parameter name '", p.name, "' appears twice");
    HEED_CHECK(p.var && p.var->defined(), kind_, ": parameter '", p.name, "' has no value");
    const Tensor& value = p.var->value();
    HEED_CHECK(value.dtype() == DType::F32 && value.is_contiguous(), kind_, ": parameter '", p.name,
               "' must be a contiguous f32 tensor, got ", value.str());
    shapes_.push_back(value.shape());
  }
}

void Optimizer::zero_grad() {
  for (const Param& p : params_) p.var->zero_grad();
}

void Optimizer::set_lr(float lr) {
  check_lr_value(lr, kind_);
  lr_ = lr;
}

int Optimizer::add_state(const std::string& kind, bool counter, bool non_negative) {
  StateKind state{kind, counter, non_negative, {}};
  state.tensors.reserve(params_.size());
  for (const Shape& shape : shapes_)
    state.tensors.push_back(counter ? Tensor::zeros({}, DType::I64) : Tensor::zeros(shape));
  state_.push_back(std::move(state));
  return static_cast<int>(state_.size()) - 1;
}

const Tensor* Optimizer::grad_of(size_t i) const {
  const Param& p = params_[i];
  const Tensor& value = p.var->value();
  // The state was sized at construction; a parameter replaced since must not be updated with it.
  HEED_CHECK(value.shape() == shapes_[i] && value.dtype() == DType::F32, kind_, ": parameter '",
             p.name, "' is now ", value.str(), ", the optimiser was made for f32",
             shape_str(shapes_[i]));
  HEED_CHECK(value.is_contiguous(), kind_, ": parameter '", p.name, "' is not contiguous");
  const Tensor& grad = std::as_const(*p.var).grad();
  if (!grad.defined()) return nullptr;
  HEED_CHECK(grad.dtype() == DType::F32 && grad.shape() == shapes_[i], kind_, ": gradient of '",
             p.name, "' is ", grad.str(), ", the parameter is ", value.str());
  HEED_CHECK(grad.is_contiguous(), kind_, ": gradient of '", p.name, "' is not contiguous");
  return &grad;
}

std::string Optimizer::state_key(const StateKind& kind, size_t i) const {
  return kind.name + "." + params_[i].name;
}

std::vector<std::pair<std::string, Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, Tensor>> out;
  Tensor step = Tensor::zeros({}, DType::I64);
  *step.i64() = step_count_;
  out.emplace_back("step", std::move(step));
  for (const StateKind& kind : state_)
    for (size_t i = 0; i < params_.size(); ++i)
      out.emplace_back(state_key(kind, i), kind.tensors[i]);
  return out;
}

void Optimizer::check_state_entry(const std::map<std::string, Tensor>& named,
                                  const std::string& key, const Tensor& want, bool non_negative) const {
  const auto it = named.find(key);
  HEED_CHECK(it != named.end(), kind_, "::load_state: missing '", key, "' ", want.str());
  const Tensor& got = it->second;
  HEED_CHECK(got.defined() && got.dtype() == want.dtype() && got.shape() == want.shape(), kind_,
             "::load_state: '", key, "' is ", got.defined() ? got.str() : "undefined",
             ", expected ", want.str());
  if (want.dtype() == DType::I64)
    HEED_CHECK(*got.i64() >= 0, kind_, "::load_state: counter '", key, "' is negative (",
               *got.i64(), ")");
  if (want.dtype() == DType::F32) {
    const Tensor c = got.contiguous();
    const float* p = c.f32();
    for (int64_t j = 0; j < c.numel(); ++j) {
      HEED_CHECK(std::isfinite(p[j]), kind_, "::load_state: '", key, "' holds ", p[j], " at element ", j);
      HEED_CHECK(!non_negative || p[j] >= 0, kind_, "::load_state: '", key, "' holds ", p[j], " at element ",
                 j, "; it must not be negative (a damaged checkpoint)");
    }
  }
}

void Optimizer::load_state(const std::map<std::string, Tensor>& named) {
  // Validate everything first so a bad checkpoint leaves the optimiser as it was.
  check_state_entry(named, "step", Tensor::zeros({}, DType::I64));
  size_t expected = 1;
  for (const StateKind& kind : state_)
    for (size_t i = 0; i < params_.size(); ++i, ++expected)
      check_state_entry(named, state_key(kind, i), kind.tensors[i], kind.non_negative);
  if (named.size() != expected) {  // every expected key is present, so some are extra
    std::set<std::string> names{"step"};
    for (const StateKind& kind : state_)
      for (size_t i = 0; i < params_.size(); ++i) names.insert(state_key(kind, i));
    for (const auto& [key, tensor] : named)
      HEED_CHECK(names.count(key), kind_, "::load_state: unexpected '", key, "' ",
                 tensor.defined() ? tensor.str() : "undefined", " (no such parameter or state)");
  }
  step_count_ = *named.at("step").i64();
  for (StateKind& kind : state_)
    for (size_t i = 0; i < params_.size(); ++i) kind.tensors[i].copy_(named.at(state_key(kind, i)));
}

}  // namespace heed::optim
