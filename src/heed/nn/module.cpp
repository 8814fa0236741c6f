#include "heed/nn/module.h"

#include <set>

#include "heed/core/rng.h"

namespace heed::nn {

void Module::register_parameter(const std::string& name, Var* var, Tensor init) {
  HEED_CHECK(var && init.defined(), "register_parameter: '", name, "' has no value");
  *var = Var(std::move(init), true);
  params_.emplace_back(name, var);
}

void Module::register_module(const std::string& name, Module* child) {
  children_.emplace_back(name, child);
}

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) {
  for (auto& [name, var] : params_) out.emplace_back(prefix + name, var);
  for (auto& [name, child] : children_) child->collect(name.empty() ? prefix : prefix + name + ".", out);
}

std::vector<std::pair<std::string, Var*>> Module::named_parameters() {
  std::vector<std::pair<std::string, Var*>> out;
  collect("", out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::state_dict() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, var] : named_parameters()) out.emplace_back(name, var->value());
  return out;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::set<std::string> known;
  for (auto& [name, var] : named_parameters()) {
    known.insert(name);
    auto it = state.find(name);
    HEED_CHECK(it != state.end(), "load_state_dict: missing parameter '", name, "' ",
               var->value().str());
    HEED_CHECK(it->second.dtype() == DType::F32 && it->second.shape() == var->shape(),
               "load_state_dict: parameter '", name, "' is ", it->second.str(), ", the model needs ",
               var->value().str());
    var->value().copy_(it->second);
  }
  if (strict)
    for (auto& [name, t] : state)
      HEED_CHECK(known.count(name), "load_state_dict: unexpected parameter '", name, "' ", t.str());
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& [name, var] : named_parameters()) n += var->value().numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

namespace {
uint64_t g_seed = 0, g_draws = 0;
struct ThreadStream {
  bool active = false;
  uint64_t key = 0, draws = 0;
};
thread_local ThreadStream t_stream;
}  // namespace

void manual_seed(uint64_t seed) { g_seed = seed, g_draws = 0; }
uint64_t next_seed() {
  if (t_stream.active) return random_bits(t_stream.key, t_stream.draws++);
  return random_bits(g_seed ^ 0x5eed5eed5eedull, g_draws++);
}

SeedStream::SeedStream(uint64_t base, uint64_t stream) {
  HEED_CHECK(!t_stream.active, "SeedStream: one is already active on this thread");
  t_stream = {true, random_bits(base, stream), 0};
}
SeedStream::~SeedStream() { t_stream = {}; }
std::pair<uint64_t, uint64_t> seed_state() { return {g_seed, g_draws}; }
void set_seed_state(std::pair<uint64_t, uint64_t> state) { g_seed = state.first, g_draws = state.second; }

Tensor trunc_normal(const Shape& shape, float stddev, Rng& rng) {
  Tensor t = Tensor::empty(shape);
  for (float& x : t.f32_span()) {
    float z;
    do z = rng.normal();
    while (z < -2.f || z > 2.f);
    x = z * stddev;
  }
  return t;
}

}  // namespace heed::nn
