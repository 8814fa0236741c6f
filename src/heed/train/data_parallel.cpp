#include "heed/train/data_parallel.h"

#include <omp.h>

#include <algorithm>
#include <exception>

#include "heed/core/parallel.h"
#include "heed/kernels/elementwise.h"

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

int64_t counted_targets(const Tensor& labels, int64_t begin, int64_t end, int64_t ignore) {
  int64_t n = 0;
  for (int64_t i = begin; i < end; ++i) n += labels.i64()[i] != ignore;
  return n;
}
}  // namespace

DataParallel::DataParallel(nn::VisionTransformer& model, int replicas) : model_(model) {
  for (int k = 1; k < replicas; ++k)
    extra_.push_back(std::make_unique<nn::VisionTransformer>(model.config, uint64_t(k)));
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
  }
}

float DataParallel::train_step(const Tensor& images, const Tensor& labels,
                               const CrossEntropyOptions& options) {
  const int64_t batch = images.size(0);
  HEED_CHECK(labels.dim() == 1 && labels.size(0) == batch, "DataParallel::train_step: ",
             labels.str(), " labels for ", images.str(), " images");
  const auto parts = slices(batch);
  if (parts.size() <= 1) {
    Var loss = cross_entropy(model_.forward(Var(images)), labels, options);
    loss.backward();
    return loss.value().item();
  }
  link_parameters();
  const int64_t total = counted_targets(labels, 0, batch, options.ignore_index);
  const uint64_t step_seed = nn::next_seed();
  std::vector<float> losses(parts.size(), 0.f);
  for_each_replica(parts.size(), [&](size_t k) {
    const auto [begin, end] = parts[k];
    const int64_t counted = counted_targets(labels, begin, end, options.ignore_index);
    if (counted == 0) return;  // contributes nothing to the mean
    nn::SeedStream seeds(step_seed, k);
    const Tensor y = labels.slice(0, begin, end).contiguous();
    Var loss = cross_entropy(replica(k).forward(Var(images.slice(0, begin, end).contiguous())), y,
                             options);
    // This slice's share of the batch mean: its own mean times its share of the targets.
    const float weight = float(counted) / float(std::max<int64_t>(total, 1));
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

Tensor DataParallel::predict(const Tensor& images) {
  const auto parts = slices(images.size(0));
  if (parts.size() <= 1) {
    NoGradGuard no_grad;
    return model_.forward(Var(images)).value();
  }
  link_parameters();
  const uint64_t step_seed = model_.training() ? nn::next_seed() : 0;
  std::vector<Tensor> logits(parts.size());
  for_each_replica(parts.size(), [&](size_t k) {
    NoGradGuard no_grad;  // grad mode is per thread
    nn::SeedStream seeds(step_seed, k);
    const auto [begin, end] = parts[k];
    logits[k] = replica(k).forward(Var(images.slice(0, begin, end).contiguous())).value();
  });
  const int64_t classes = logits[0].size(1);
  Tensor out = Tensor::empty({images.size(0), classes});
  for (size_t k = 0; k < parts.size(); ++k)
    std::copy(logits[k].f32(), logits[k].f32() + logits[k].numel(),
              out.f32() + parts[k].first * classes);
  return out;
}

}  // namespace heed::train
