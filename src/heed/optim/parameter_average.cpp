#include "heed/optim/parameter_average.h"

#include <algorithm>
#include <cmath>

#include "heed/kernels/optimizer_update.h"

namespace heed::optim {

ParameterAverage::ParameterAverage(std::vector<Param> params, double decay)
    : params_(std::move(params)), decay_(decay) {
  HEED_CHECK(std::isfinite(decay) && decay > 0.0 && decay < 1.0,
             "train.ema_decay: must be in (0, 1) (0 turns averaging off), got ", decay);
  HEED_CHECK(!params_.empty(), "parameter average: no parameters");
  average_.reserve(params_.size());
  for (const Param& p : params_) {
    const Tensor& value = p.var->value();
    HEED_CHECK(value.defined() && value.dtype() == DType::F32 && value.is_contiguous(),
               "parameter average: ", p.name, " must be a defined contiguous f32 tensor");
    average_.push_back(value.clone());
  }
}

double ParameterAverage::decay_at(double decay, int64_t step) {
  return std::min(decay, double(1 + step) / double(10 + step));
}

void ParameterAverage::update(int64_t step) {
  const float weight = float(1.0 - decay_at(decay_, step));
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& value = params_[i].var->value();
    HEED_CHECK(value.shape() == average_[i].shape(), "parameter average: ", params_[i].name,
               " changed shape from ", shape_str(average_[i].shape()), " to ", shape_str(value.shape()));
    kernels::ema_update(average_[i].f32(), value.f32(), value.numel(), weight);
  }
}

void ParameterAverage::swap() {
  for (size_t i = 0; i < params_.size(); ++i) {
    float* value = params_[i].var->value().f32();
    std::swap_ranges(value, value + average_[i].numel(), average_[i].f32());
  }
}

std::vector<std::pair<std::string, Tensor>> ParameterAverage::state(const std::string& prefix) const {
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(prefix + "." + params_[i].name, average_[i]);
  return out;
}

void ParameterAverage::load_state(const std::map<std::string, Tensor>& named, const std::string& prefix) {
  for (size_t i = 0; i < params_.size(); ++i) {  // validate everything before changing anything
    const std::string key = prefix + "." + params_[i].name;
    auto it = named.find(key);
    HEED_CHECK(it != named.end(), "parameter average: the state has no '", key, "'");
    const Tensor& t = it->second;
    HEED_CHECK(t.dtype() == DType::F32 && t.shape() == average_[i].shape(), "parameter average: '", key,
               "' is ", dtype_name(t.dtype()), " ", shape_str(t.shape()), ", expected f32 ",
               shape_str(average_[i].shape()));
    HEED_CHECK(kernels::all_finite(t.contiguous().f32(), t.numel()), "parameter average: '", key,
               "' holds a NaN or an infinity");
  }
  for (size_t i = 0; i < params_.size(); ++i) average_[i].copy_(named.at(prefix + "." + params_[i].name));
}

}  // namespace heed::optim
