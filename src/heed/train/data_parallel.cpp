#include "heed/train/data_parallel.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "heed/core/parallel.h"
#include "heed/kernels/elementwise.h"
#include "heed/ops/ops.h"

namespace heed::train {

namespace {
// Runs f(k) for k < n on up to n threads (fewer when fewer are configured: then some run
// several replicas in turn), with single-threaded ops inside, so each replica computes the same
// bits whatever the thread count; the first exception (by replica order) is rethrown on the
// calling thread once all have finished.
template <class F>
void for_each_replica(size_t n, F&& f) {
  std::vector<std::exception_ptr> errors(n);
  const int outer = num_threads();
#pragma omp parallel for num_threads(std::min(int(n), outer)) schedule(static, 1)
  for (size_t k = 0; k < n; ++k) {
    omp_set_num_threads(1);  // this thread's ops: no nested teams
    try {
      f(k);
    } catch (...) {
      errors[k] = std::current_exception();
    }
  }
  set_num_threads(outer);
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

// Concatenates row slices of the same trailing shape along dimension 0.
Tensor concat_rows(const std::vector<Tensor>& parts) {
  Shape shape = parts.front().shape();
  shape[0] = 0;
  for (const Tensor& p : parts) shape[0] += p.size(0);
  Tensor out = Tensor::empty(shape);
  int64_t at = 0;
  for (const Tensor& p : parts) {
    std::copy(p.f32(), p.f32() + p.numel(), out.f32() + at);
    at += p.numel();
  }
  return out;
}
}  // namespace

DataParallel::DataParallel(nn::Model& model, int replicas) : model_(model) {
  for (int k = 1; k < replicas; ++k) extra_.push_back(model.replicate(uint64_t(k)));
}

std::vector<std::pair<int64_t, int64_t>> DataParallel::slices(int64_t batch) const {
  const int64_t n = std::min<int64_t>(replicas(), batch);
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t k = 0; k < n; ++k) out.emplace_back(batch * k / n, batch * (k + 1) / n);
  return out;
}

void DataParallel::link_parameters() {
  const auto mine = model_.named_parameters();
  for (auto& r : extra_) {
    r->train(model_.training());
    const auto theirs = r->named_parameters();
    for (size_t i = 0; i < mine.size(); ++i) *theirs[i].second = Var(mine[i].second->value(), true);
    r->share_reduced_forms(model_);  // an int8 or bf16 model's replicas run those weights too
  }
}

float DataParallel::train_step(const nn::Batch& batch, const Task& task) {
  const auto parts = slices(batch.size());
  if (parts.size() <= 1) {
    Var loss = task.loss(model_.forward(batch), batch);
    loss.backward();
    return loss.value().item();
  }
  link_parameters();
  const double total = task.target_weight(batch);
  const uint64_t step_seed = nn::next_seed();
  std::vector<float> losses(parts.size(), 0.f);
  for_each_replica(parts.size(), [&](size_t k) {
    const nn::Batch slice = batch.rows(parts[k].first, parts[k].second);
    const double counted = task.target_weight(slice);
    if (counted == 0) return;  // contributes nothing to the mean
    nn::SeedStream seeds(step_seed, k);
    Var loss = task.loss(replica(k).forward(slice), slice);
    // This slice's share of the batch mean: its own mean times its share of the targets.
    const float weight = float(counted) / float(total > 0 ? total : 1.0);
    loss.backward(Tensor::full({}, weight));
    losses[k] = loss.value().item() * weight;
  });
  // Gradients of replicas 1.. into the model's, in replica order (deterministic).
  const auto mine = model_.named_parameters();
  for (auto& r : extra_) {
    const auto theirs = r->named_parameters();
    for (size_t i = 0; i < mine.size(); ++i) {
      const Tensor& g = theirs[i].second->grad();
      if (!g.defined()) continue;
      Tensor& dst = mine[i].second->grad();
      if (!dst.defined())
        dst = g.clone();
      else
        kernels::add_inplace(dst.f32(), g.f32(), dst.numel());
    }
  }
  float loss = 0.f;
  for (float l : losses) loss += l;
  return loss;
}

nn::ModelOutput DataParallel::predict(const nn::Batch& batch, const nn::ForwardOptions& options) {
  HEED_CHECK(!options.attention_gradients,
             "DataParallel::predict runs without gradients; explain through the model itself");
  const auto parts = slices(batch.size());
  if (parts.size() <= 1) {
    NoGradGuard no_grad;
    return model_.forward(batch, options);
  }
  link_parameters();
  const uint64_t step_seed = model_.training() ? nn::next_seed() : 0;
  std::vector<nn::ModelOutput> outputs(parts.size());
  for_each_replica(parts.size(), [&](size_t k) {
    NoGradGuard no_grad;  // grad mode is per thread
    nn::SeedStream seeds(step_seed, k);
    outputs[k] = replica(k).forward(batch.rows(parts[k].first, parts[k].second), options);
  });
  nn::ModelOutput out;
  std::vector<Tensor> logits;
  for (const nn::ModelOutput& o : outputs) logits.push_back(o.logits.value());
  out.logits = Var(concat_rows(logits));
  // Hidden states with an output layer (ModelOutput::output_weight): every replica holds the same
  // weights, so the rows stacked in batch order go with any replica's.
  if (outputs[0].output_weight.defined()) out.output_weight = Var(outputs[0].output_weight.value());
  for (size_t layer = 0; layer < outputs[0].attention.size(); ++layer) {
    std::vector<Tensor> maps;
    for (const nn::ModelOutput& o : outputs) maps.push_back(o.attention[layer]->probabilities);
    out.attention.push_back(std::make_shared<AttentionCapture>());
    out.attention.back()->probabilities = concat_rows(maps);
  }
  return out;
}

}  // namespace heed::train
