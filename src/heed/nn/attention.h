// MultiHeadAttention: projections + heads around ops/attention.h.
// Self-attention uses one packed QKV projection ([3E, E], one GEMM); cross-attention projects
// the queries with the first E rows and keys/values from the memory with the other 2E rows, as
// PyTorch's nn.MultiheadAttention does with its packed in_proj_weight.
// Names: Naming::Torch -> in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias
//        Naming::Timm  -> qkv.weight, qkv.bias, proj.weight, proj.bias
#pragma once

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

// What a forward masks; mirrors ops/attention.h's options.
struct AttentionMasks {
  Tensor key_lengths;  // i64 [B]
  bool causal = false;
  int64_t window = 0;
  Tensor mask;  // f32 additive or i64 boolean (1 = attend): [Tq, Tk], [B, 1, Tq, Tk], [B, H, Tq, Tk]
};

class MultiHeadAttention : public Module {
 public:
  MultiHeadAttention(int64_t embed_dim, int64_t heads, const MultiHeadAttentionOptions& options,
                     Rng& rng);

  // x [B, T, E] -> [B, T, E]. With `weights`, runs the reference path and stores the
  // attention probabilities [B, H, T, T] there (for maps); otherwise the fused kernel.
  Var forward(const Var& x, const AttentionMasks& masks = {}, Tensor* weights = nullptr);
  // queries [B, Tq, E] attend over memory [B, Tk, E].
  Var forward_cross(const Var& queries, const Var& memory, const AttentionMasks& masks = {},
                    Tensor* weights = nullptr);

  int64_t embed_dim, heads, head_dim;
  MultiHeadAttentionOptions options;
  Var in_proj_weight, in_proj_bias;  // [3E, E], [3E]
  Linear out_proj;

 private:
  Var attend(const Var& q, const Var& k, const Var& v, int64_t batch, int64_t q_len,
             const AttentionMasks& masks, Tensor* weights);
  AttentionOptions attention_options(const AttentionMasks& masks);  // draws a dropout seed
  Var project_out(const Var& merged);  // out_proj + projection dropout
};

}  // namespace heed::nn
