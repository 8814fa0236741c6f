#include "heed/compress/remove_heads.h"

#include <map>

#include "heed/compress/checkpoint_transform.h"
#include "heed/compress/quantize.h"
#include "heed/core/error.h"
#include "heed/nn/attention.h"
#include "heed/tasks/registry.h"

namespace heed::compress {

namespace {

struct AttentionNames {
  nn::MultiHeadAttention* layer = nullptr;
  std::string in_weight, in_bias, out_weight;  // in_bias empty when the layer has none
};

// The model's attention layers in module order, with their parameters' checkpoint names.
std::vector<AttentionNames> attention_layers(nn::Module& model) {
  std::map<const Var*, std::string> name_of;
  for (auto& [name, var] : model.named_parameters()) name_of[var] = name;
  std::vector<AttentionNames> out;
  model.for_each_module([&](nn::Module& m) {
    if (auto* a = dynamic_cast<nn::MultiHeadAttention*>(&m)) {
      AttentionNames n{a, name_of.at(&a->in_proj_weight), "", name_of.at(&a->out_proj.weight)};
      if (a->options.bias) n.in_bias = name_of.at(&a->in_proj_bias);
      out.push_back(n);
    }
  });
  return out;
}

// Rows [r, r + count) of each kept head's q, k and v blocks of a packed [3 * H * d, ...] tensor.
Tensor keep_packed_rows(const Tensor& packed, const std::vector<int64_t>& kept, int64_t heads, int64_t head_dim) {
  const Tensor src = packed.contiguous();
  const int64_t row = src.numel() / src.size(0), inner = heads * head_dim;
  Shape shape = src.shape();
  shape[0] = 3 * int64_t(kept.size()) * head_dim;
  Tensor dst = Tensor::empty(shape);
  float* d = dst.f32();
  for (int64_t part = 0; part < 3; ++part)
    for (int64_t h : kept) {
      const float* s = src.f32() + (part * inner + h * head_dim) * row;
      d = std::copy(s, s + head_dim * row, d);
    }
  return dst;
}

// The kept heads' columns of the output projection's weight [E, H * d].
Tensor keep_columns(const Tensor& weight, const std::vector<int64_t>& kept, int64_t head_dim) {
  const Tensor src = weight.contiguous();
  const int64_t rows = src.size(0), cols = src.size(1), new_cols = int64_t(kept.size()) * head_dim;
  Tensor dst = Tensor::empty({rows, new_cols});
  for (int64_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < kept.size(); ++k)
      std::copy_n(src.f32() + r * cols + kept[k] * head_dim, head_dim, dst.f32() + r * new_cols + int64_t(k) * head_dim);
  return dst;
}

}  // namespace

RemovedHeads remove_heads(const train::Checkpoint& ckpt, const std::vector<std::vector<bool>>& pruned,
                          const std::string& out, bool overwrite) {
  HEED_CHECK(!is_quantized(ckpt), "prune: ", ckpt.path, " is quantised; remove heads from the f32 checkpoint "
             "(and quantise the result)");
  std::unique_ptr<nn::Module> model = load_for_transform(ckpt, out, overwrite, "pruned");
  const tasks::TaskEntry& task = tasks::find_task(ckpt.meta.task);
  const std::vector<AttentionNames> layers = attention_layers(*model);
  HEED_CHECK(layers.size() == pruned.size(), "prune: ", ckpt.path, " has ", layers.size(),
             " attention layers, the heads to remove name ", pruned.size());

  RemovedHeads r;
  r.parameters_before = model->parameter_count();
  train::Checkpoint smaller;
  smaller.path = ckpt.path;
  smaller.meta = ckpt.meta;
  smaller.model = ckpt.model;
  for (size_t l = 0; l < layers.size(); ++l) {
    const nn::MultiHeadAttention& a = *layers[l].layer;
    HEED_CHECK(int64_t(pruned[l].size()) == a.heads, "prune: layer ", l, " of ", ckpt.path, " has ", a.heads,
               " heads, the heads to remove name ", pruned[l].size());
    std::vector<int64_t> kept;
    for (int64_t h = 0; h < a.heads; ++h)
      if (!pruned[l][size_t(h)]) kept.push_back(h);
    HEED_CHECK(!kept.empty(), "prune: every head of layer ", l, " would go; a layer keeps at least one");
    r.layer_heads.push_back(int64_t(kept.size()));
    r.removed += a.heads - int64_t(kept.size());
    if (int64_t(kept.size()) == a.heads) continue;  // untouched: the very same tensors
    smaller.model[layers[l].in_weight] = keep_packed_rows(ckpt.model.at(layers[l].in_weight), kept, a.heads, a.head_dim);
    if (!layers[l].in_bias.empty())
      smaller.model[layers[l].in_bias] = keep_packed_rows(ckpt.model.at(layers[l].in_bias), kept, a.heads, a.head_dim);
    smaller.model[layers[l].out_weight] = keep_columns(ckpt.model.at(layers[l].out_weight), kept, a.head_dim);
  }
  smaller.meta.config["model"]["layer_heads"] = r.layer_heads;
  // The task builds the smaller model from the changed config and checks every shape on loading.
  std::unique_ptr<nn::Module> pruned_model = task.load_module(smaller);
  r.parameters_after = pruned_model->parameter_count();
  train::write_checkpoint(out, *pruned_model, smaller.meta, {});
  return r;
}

}  // namespace heed::compress
