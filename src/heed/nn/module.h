// Module: the base of every layer. Parameters and child modules are registered by name, so
// `named_parameters()` yields PyTorch/timm dotted names ("blocks.0.attn.qkv.weight") and a
// state dict maps 1:1 onto a PyTorch model's.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "heed/autograd/variable.h"

namespace heed::nn {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // registered pointers must stay valid
  Module& operator=(const Module&) = delete;

  // Own parameters first, then children's, in registration order (PyTorch's order).
  std::vector<std::pair<std::string, Var*>> named_parameters();
  std::vector<std::pair<std::string, Tensor>> state_dict();
  // Copies values in. Errors name missing, unexpected (when strict) and mis-shaped entries.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  int64_t parameter_count();

  void train(bool on = true);
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  // `var` must be a member of the registering module (its address is kept).
  void register_parameter(const std::string& name, Var* var, Tensor init);
  // An empty `name` puts the child's parameters in this module's namespace (PyTorch layers whose
  // MLP is no submodule: nn.TransformerEncoderLayer's linear1, linear2).
  void register_module(const std::string& name, Module* child);

 private:
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out);

  std::vector<std::pair<std::string, Var*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

// Dropout seeds. Every stochastic op draws a fresh seed from one seeded stream, so a run is
// reproducible from (seed, number of draws), which checkpoints save.
void manual_seed(uint64_t seed);
uint64_t next_seed();
std::pair<uint64_t, uint64_t> seed_state();  // (seed, draws)
void set_seed_state(std::pair<uint64_t, uint64_t> state);

// While one is alive, next_seed() on the creating thread draws from its own stream, keyed by
// (base, stream), instead of the global one: data-parallel replicas (train/data_parallel.h)
// draw reproducible seeds concurrently. Not nestable on one thread.
class SeedStream {
 public:
  SeedStream(uint64_t base, uint64_t stream);
  ~SeedStream();
  SeedStream(const SeedStream&) = delete;
  SeedStream& operator=(const SeedStream&) = delete;
};

// Initialisers (timm's ViT scheme uses truncated normal std 0.02).
Tensor trunc_normal(const Shape& shape, float stddev, Rng& rng);  // cut at +-2 stddev

}  // namespace heed::nn
