#include "heed/nn/module.h"

#include <cmath>
#include <set>
#include <string>

#include "heed/core/rng.h"
#include "heed/ops/bf16_matrix.h"
#include "heed/ops/int8_calibration.h"
#include "heed/ops/int8_matrix.h"

namespace heed::nn {

void Module::register_parameter(const std::string& name, Var* var, Tensor init) {
  HEED_CHECK(var && init.defined(), "register_parameter: '", name, "' has no value");
  *var = Var(std::move(init), true);
  params_.emplace_back(name, var);
}

void Module::register_module(const std::string& name, Module* child) {
  children_.emplace_back(name, child);
}

void Module::register_reduced(Var* var, std::shared_ptr<const Int8Matrix>* int8_slot,
                              std::shared_ptr<const Bf16Matrix>* bf16_slot) {
  bool registered = false;
  for (auto& [name, v] : params_) registered |= v == var;
  HEED_CHECK(registered && int8_slot && bf16_slot, "register_reduced: the parameter is not registered in this module");
  reduced_slots_.push_back({var, int8_slot, bf16_slot});
}

void Module::register_int8_storage(Var* var) {
  storage_slots_.push_back(std::make_unique<std::shared_ptr<const Int8Matrix>>());
  bool registered = false;
  for (auto& [name, v] : params_) registered |= v == var;
  HEED_CHECK(registered, "register_int8_storage: the parameter is not registered in this module");
  reduced_slots_.push_back({var, storage_slots_.back().get(), nullptr});
}

void Module::collect_all(const std::string& prefix, std::vector<NamedParameter>& out) {
  for (auto& [name, var] : params_) {
    NamedParameter p{prefix + name, var, nullptr, nullptr};
    for (const ReducedSlots& r : reduced_slots_)
      if (r.var == var) {
        p.int8 = r.int8;
        p.bf16 = r.bf16;
      }
    out.push_back(std::move(p));
  }
  for (auto& [name, child] : children_) child->collect_all(name.empty() ? prefix : prefix + name + ".", out);
}

std::vector<Module::NamedParameter> Module::all_parameters() {
  std::vector<NamedParameter> out;
  collect_all("", out);
  return out;
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

namespace {
// A weight-only table of more than two dimensions (e.g. positions [1, max_len, dim]) is quantised
// as rows of its last dimension, one scale per row; a matrix is itself.
Tensor as_rows(const Tensor& t) {
  if (t.dim() <= 2) return t;
  return t.reshape({-1, t.size(t.dim() - 1)});
}
}  // namespace

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  std::set<std::string> known;
  for (auto& [name, var, int8, bf16_form] : all_parameters()) {
    known.insert(name);
    if (bf16_form) bf16_form->reset();  // a bf16 form held before is stale either way
    auto it = state.find(name);
    HEED_CHECK(it != state.end(), "load_state_dict: missing parameter '", name, "' ",
               var->value().str());
    auto scale = int8 ? state.find(name + kInt8ScaleSuffix) : state.end();
    if (scale != state.end()) {  // the int8 form
      known.insert(scale->first);
      HEED_CHECK(it->second.shape() == var->shape(), "load_state_dict: int8 parameter '", name,
                 "' is ", it->second.str(), ", the model needs ", var->value().str());
      Int8Matrix m = Int8Matrix::from_stored(as_rows(it->second), scale->second, name);
      if (auto range = state.find(name + kInt8InputRangeSuffix); range != state.end()) {
        known.insert(range->first);
        const Tensor& r = range->second;
        HEED_CHECK(r.dtype() == DType::F32 && r.shape() == Shape{1} && std::isfinite(r.f32()[0]) && r.f32()[0] > 0,
                   "load_state_dict: '", range->first, "' must be one finite f32 value > 0, got ", r.str(),
                   r.dtype() == DType::F32 && r.numel() == 1 ? " holding " + std::to_string(r.f32()[0]) : "");
        m.input_range = r.f32()[0];
      }
      var->value().copy_(m.dequantize().reshape(var->shape()));
      *int8 = std::make_shared<const Int8Matrix>(std::move(m));
      continue;
    }
    HEED_CHECK(it->second.dtype() == DType::F32 && it->second.shape() == var->shape(),
               "load_state_dict: parameter '", name, "' is ", it->second.str(), ", the model needs ",
               var->value().str());
    var->value().copy_(it->second);
    if (int8) int8->reset();  // f32 values: any int8 form held before is stale
  }
  if (strict)
    for (auto& [name, t] : state)
      HEED_CHECK(known.count(name), "load_state_dict: unexpected parameter '", name, "' ", t.str());
}

std::vector<std::string> Module::quantize_int8() {
  HEED_CHECK(!bf16(), "quantize_int8: the model holds bf16 weights; quantise the f32 model");
  std::vector<std::string> names;
  for (auto& [name, var, int8, bf16_form] : all_parameters())
    if (int8) {
      try {
        *int8 = std::make_shared<const Int8Matrix>(Int8Matrix::quantize(as_rows(var->value())));
        // A weight-only table computes with its f32 value: make it what the file will hold.
        if (!bf16_form) var->value().copy_((*int8)->dequantize().reshape(var->shape()));
      } catch (const Error& e) {
        detail::fail("quantize_int8: parameter '", name, "': ", e.what());
      }
      names.push_back(name);
    }
  return names;
}

std::vector<std::string> Module::calibrate_int8(const Int8Calibration& calibration) {
  std::vector<std::string> names;
  for (auto& [name, var, int8, bf16_form] : all_parameters()) {
    if (!int8 || !*int8 || !bf16_form) continue;  // not quantised, or a weight-only table (no GEMM)
    const float range = calibration.input_range(**int8);
    if (range <= 0) continue;  // never ran (or only on zeros): stays dynamic
    Int8Matrix m = **int8;     // shares the packed weights
    m.input_range = range;
    *int8 = std::make_shared<const Int8Matrix>(std::move(m));
    names.push_back(name);
  }
  return names;
}

bool Module::quantized() {
  for (auto& p : all_parameters())
    if (p.int8 && *p.int8) return true;
  return false;
}

std::vector<std::pair<std::string, Tensor>> Module::int8_state_dict() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (auto& [name, var, int8, bf16_form] : all_parameters()) {
    if (int8 && *int8) {
      out.emplace_back(name, (*int8)->stored_q().reshape(var->shape()));
      out.emplace_back(name + kInt8ScaleSuffix, (*int8)->stored_scale());
      if ((*int8)->input_range > 0) out.emplace_back(name + kInt8InputRangeSuffix, Tensor::full({1}, (*int8)->input_range));
    } else {
      out.emplace_back(name, var->value());
    }
  }
  return out;
}

std::vector<std::string> Module::convert_bf16() {
  HEED_CHECK(!quantized(), "convert_bf16: the model holds int8 weights (a quantised checkpoint); bf16 is made "
             "from the f32 one");
  std::vector<std::string> names;
  for (auto& [name, var, int8, bf16_form] : all_parameters())
    if (bf16_form) {
      *bf16_form = std::make_shared<const Bf16Matrix>(Bf16Matrix::convert(var->value(), name));
      names.push_back(name);
    }
  return names;
}

bool Module::bf16() {
  for (auto& p : all_parameters())
    if (p.bf16 && *p.bf16) return true;
  return false;
}

std::vector<std::string> Module::bf16_parameters() {
  std::vector<std::string> names;
  for (auto& p : all_parameters())
    if (p.bf16 && *p.bf16) names.push_back(p.name);
  return names;
}

void Module::drop_reduced_forms() {
  for (auto& p : all_parameters()) {
    if (p.int8) p.int8->reset();
    if (p.bf16) p.bf16->reset();
  }
}

void Module::share_reduced_forms(Module& source) {
  const std::vector<NamedParameter> mine = all_parameters(), theirs = source.all_parameters();
  HEED_CHECK(mine.size() == theirs.size(), "share_reduced_forms: the modules have ", mine.size(), " and ",
             theirs.size(), " parameters");
  for (size_t i = 0; i < mine.size(); ++i) {
    if (mine[i].int8) *mine[i].int8 = theirs[i].int8 ? *theirs[i].int8 : nullptr;
    if (mine[i].bf16) *mine[i].bf16 = theirs[i].bf16 ? *theirs[i].bf16 : nullptr;
  }
}

int64_t Module::parameter_count() {
  int64_t n = 0;
  for (auto& [name, var] : named_parameters()) n += var->value().numel();
  return n;
}

void Module::for_each_module(const std::function<void(Module&)>& visit) {
  visit(*this);
  for (auto& [name, child] : children_) child->for_each_module(visit);
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
