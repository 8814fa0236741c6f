// Optimisers over named parameters.
//
// An optimiser keeps non-owning pointers to the model's parameter Vars (a Module's
// named_parameters()) and, per parameter, state tensors shaped like it (AdamW's moments, SGD's
// momentum buffer). step() updates every parameter that has a gradient in place, outside the
// autograd graph; parameters whose gradient is undefined (unused this step, or frozen) are
// skipped and their state is left untouched, as in PyTorch.
//
// State is exchanged by name so a checkpoint is a flat safetensors file:
//   "<kind>.<param name>"  e.g. "exp_avg.blocks.0.attn.qkv.weight" (f32, the parameter's shape),
//                          or a 0-d i64 per-parameter counter (AdamW's "step.<param name>")
//   "step"                 0-d i64, the number of step() calls so far
// state() returns the live tensors (like PyTorch's state_dict(): no copy, they change on the
// next step); load_state() copies values in after validating every name, dtype and shape.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "heed/autograd/variable.h"

namespace heed::optim {

struct Param {
  std::string name;   // unique; names the parameter's state tensors
  Var* var;           // not owned; must outlive the optimiser
  bool weight_decay;  // whether weight decay applies (see default_weight_decay)
};

// The usual ViT rule (timm's param groups): decay only weight matrices. No decay for
//  - tensors with fewer than 2 dimensions (biases, LayerNorm scales and shifts),
//  - names ending in "pos_embed" or "cls_token" (learned position / class tokens),
//  - names containing "embedding" (token embedding tables).
bool default_weight_decay(const std::string& name, const Shape& shape);

// Params for a Module's named_parameters(), with weight_decay from default_weight_decay.
std::vector<Param> make_params(const std::vector<std::pair<std::string, Var*>>& named);

// False when any defined gradient holds a NaN or an infinity. step() does not check (it would
// cost a pass over every gradient), so a training loop that wants to skip bad steps (e.g. after
// a loss spike) calls this first.
bool grads_finite(const std::vector<Param>& params);

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;  // holds state per parameter pointer
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient; increments step_count().
  virtual void step() = 0;
  // Drops every parameter's gradient buffer (PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  float lr() const { return lr_; }
  void set_lr(float lr);  // e.g. from learning_rate(schedule, step_count()) before each step
  int64_t step_count() const { return step_count_; }
  const std::vector<Param>& params() const { return params_; }

  // "step" first, then each state kind for every parameter in parameter order.
  virtual std::vector<std::pair<std::string, Tensor>> state() const;
  // Every name state() yields must be present with the same dtype and shape, and no other name
  // may be (a leftover entry means the checkpoint was made for different parameters). Nothing is
  // changed unless the whole map is valid.
  virtual void load_state(const std::map<std::string, Tensor>& named);

 protected:
  // `kind` names the optimiser in error messages ("AdamW"). Checks the parameter list: not
  // empty, unique non-empty names, defined contiguous f32 values.
  Optimizer(std::vector<Param> params, float lr, const char* kind);

  // Registers a state kind: one zero tensor per parameter, shaped like the parameter, or a 0-d
  // i64 counter when `counter`. A `non_negative` kind (AdamW's second moments) must have no
  // negative value on load_state: one would give NaN at the next step. Returns the index for
  // state_tensor(). Call from constructors.
  int add_state(const std::string& kind, bool counter = false, bool non_negative = false);
  Tensor& state_tensor(int kind, size_t param) { return state_[kind].tensors[param]; }

  // Parameter i's gradient, or nullptr when it has none. Checks (cheaply, per tensor) that the
  // value and gradient still have the shape the state was made for and are contiguous.
  const Tensor* grad_of(size_t i) const;
  void count_step() { ++step_count_; }
  const char* kind() const { return kind_; }

 private:
  struct StateKind {
    std::string name;
    bool counter, non_negative;
    std::vector<Tensor> tensors;  // one per parameter
  };

  std::string state_key(const StateKind& kind, size_t i) const;  // "<kind>.<param name>"
  void check_state_entry(const std::map<std::string, Tensor>& named, const std::string& key,
                         const Tensor& want, bool non_negative = false) const;

  std::vector<Param> params_;
  std::vector<Shape> shapes_;  // at construction; the state tensors' shapes
  std::vector<StateKind> state_;
  float lr_;
  int64_t step_count_ = 0;
  const char* kind_;
};

}  // namespace heed::optim
