// MultiHeadAttention: projections + heads around ops/attention.h.
// Self-attention uses one packed QKV projection ([3E, E], one GEMM); cross-attention projects
// the queries with the first E rows and keys/values from the memory with the other 2E rows, as
// PyTorch's nn.MultiheadAttention does with its packed in_proj_weight.
// Names: Naming::Torch -> in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias
//        Naming::Timm  -> qkv.weight, qkv.bias, proj.weight, proj.bias
#pragma once

#include <memory>
#include <vector>

#include "heed/nn/layers.h"
#include "heed/ops/attention.h"

namespace heed::nn {

struct MultiHeadAttentionOptions {
  enum class Naming { Torch, Timm };
  bool bias = true;
  float attention_dropout = 0.f;   // on the probabilities (PyTorch's `dropout`)
  float projection_dropout = 0.f;  // after the output projection (timm's proj_drop)
  Naming naming = Naming::Torch;
};

using AttentionCaptures = std::vector<std::shared_ptr<AttentionCapture>>;

// Collects one capture per attention layer during a forward (ForwardOptions::attention): a model
// asks `next()` for each layer it runs, in order.
struct AttentionRecorder {
  bool gradients = false;  // also have the backward write dLoss/dP into each capture
  AttentionCaptures layers;
  std::shared_ptr<AttentionCapture> next();
};

// What a forward masks; mirrors ops/attention.h's options.
struct AttentionMasks {
  Tensor key_lengths;  // i64 [B]
  bool causal = false;
  int64_t window = 0;
  Tensor mask;  // f32 additive or i64 boolean (1 = attend): [Tq, Tk], [B, 1, Tq, Tk], [B, H, Tq, Tk]
};

class MultiHeadAttention : public Module {
 public:
  // head_dim 0: embed_dim / heads (which must divide). A layer whose heads were pruned
  // (heed prune --out) keeps the original head_dim with fewer heads: its projections are then
  // [3 * heads * head_dim, E] in and [E, heads * head_dim] out.
  MultiHeadAttention(int64_t embed_dim, int64_t heads, const MultiHeadAttentionOptions& options,
                     Rng& rng, int64_t head_dim = 0);

  // x [B, T, E] -> [B, T, E], through the fused kernel. A `capture` receives the attention
  // probabilities [B, H, T, T] (and their gradient, when it asks) without changing the output.
  Var forward(const Var& x, const AttentionMasks& masks = {},
              std::shared_ptr<AttentionCapture> capture = nullptr);
  // queries [B, Tq, E] attend over memory [B, Tk, E].
  Var forward_cross(const Var& queries, const Var& memory, const AttentionMasks& masks = {},
                    std::shared_ptr<AttentionCapture> capture = nullptr);

  // Decoding: x [B, Tn, E] are Tn new positions after the `past` ones whose keys and values
  // `cache` [B, capacity, 2E] holds; their own are appended to it (ops attention_cached). The
  // same result as forward() with a causal mask over the whole sequence. Inference only.
  Var forward_cached(const Var& x, Tensor& cache, int64_t past);

  // Cross-attention while decoding: the memory [B, S, E] projected to keys and values once
  // ([B, S, 2E]); then each step's queries x [B, Tn, E] attend over them (key padding from
  // `memory_lengths`, i64 [B]). The same result as forward_cross. Inference only.
  Tensor project_memory(const Var& memory);
  Var forward_cross_cached(const Var& x, const Tensor& memory_kv, const Tensor& memory_lengths);

  int64_t embed_dim, heads, head_dim;
  int64_t inner_dim;  // heads * head_dim: the width of each of q, k and v (embed_dim unless pruned)
  MultiHeadAttentionOptions options;
  Var in_proj_weight, in_proj_bias;  // [3E, E], [3E]
  std::shared_ptr<const Int8Matrix> in_proj_int8;  // Module::quantize_int8 fills it
  std::shared_ptr<const Bf16Matrix> in_proj_bf16;  // Module::convert_bf16 fills it
  Linear out_proj;

 private:
  // Draws a dropout seed when training.
  AttentionOptions attention_options(const AttentionMasks& masks,
                                     std::shared_ptr<AttentionCapture> capture);
  Var project_out(const Var& merged);  // out_proj + projection dropout
  // x through rows [begin, end) of the packed projection (in int8 or bf16 when converted and no
  // gradient is being recorded).
  Var project_in(const Var& x, int64_t begin, int64_t end);
};

}  // namespace heed::nn
