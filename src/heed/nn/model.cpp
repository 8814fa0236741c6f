#include "heed/nn/model.h"

#include <algorithm>

namespace heed::nn {

int64_t Batch::size() const {
  if (!indices.empty()) return int64_t(indices.size());
  return tensors.empty() ? 0 : tensors.begin()->second.size(0);
}

const Tensor& Batch::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::string keys;
    for (const auto& [key, t] : tensors) keys += (keys.empty() ? "" : ", ") + key;
    detail::fail("batch: no tensor '", name, "' (it has: ", keys.empty() ? "nothing" : keys, ")");
  }
  return it->second;
}

Batch Batch::rows(int64_t begin, int64_t end) const {
  Batch out;
  for (const auto& [name, t] : tensors) out.tensors[name] = t.slice(0, begin, end).contiguous();
  if (!indices.empty()) out.indices.assign(indices.begin() + begin, indices.begin() + end);
  return out;
}

}  // namespace heed::nn

namespace heed::nn {

std::unique_ptr<AttentionRecorder> attention_recorder(const ForwardOptions& options) {
  if (!options.attention && !options.attention_gradients) return nullptr;
  auto recorder = std::make_unique<AttentionRecorder>();
  recorder->gradients = options.attention_gradients;
  return recorder;
}

Tensor last_positions(const Tensor& lengths, int64_t t) {
  const int64_t b = lengths.size(0);
  std::vector<int64_t> last(static_cast<size_t>(b));
  for (int64_t i = 0; i < b; ++i) last[size_t(i)] = i * t + std::clamp<int64_t>(lengths.i64()[i], 1, t) - 1;
  return Tensor::from_indices({b}, last);
}

Tensor masked_positions(const Tensor& labels) {
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (labels.i64()[i] != -100) positions.push_back(i);
  return Tensor::from_indices({int64_t(positions.size())}, positions);
}

}  // namespace heed::nn
