// Differentiable ops. Each lives in its own file (ops/<name>.cpp) with its forward beside its
// backward; the maths is in kernels/. Shape notation in comments: [B, T, C] etc.
// Every op validates its inputs and throws heed::Error naming the op and the shapes involved.
#pragma once

#include <cstdint>
#include <vector>

#include "heed/autograd/variable.h"

namespace heed {

struct Int8Matrix;  // ops/int8_matrix.h
struct Bf16Matrix;  // ops/bf16_matrix.h

// a [..., M, K] @ b [..., K, N] (same leading dims) or b [K, N] shared by every batch.
Var matmul(const Var& a, const Var& b);
// x [..., in] W[out, in]^T + bias[out]; bias may be an undefined Var.
Var linear(const Var& x, const Var& weight, const Var& bias = Var());
// The same through rows [row_begin, row_end) of an int8 weight (row_end -1: to the last), each
// row of x quantised on the fly (kernels/int8.h). Inference only: it records no gradient, and
// refuses an x that requires one while grad mode is on.
Var linear_int8(const Var& x, const Int8Matrix& weight, const Var& bias = Var(), int64_t row_begin = 0,
                int64_t row_end = -1);
// The same with a bf16 weight, x rounded to bf16, f32 accumulation and output (kernels/bf16.h).
Var linear_bf16(const Var& x, const Bf16Matrix& weight, const Var& bias = Var(), int64_t row_begin = 0,
                int64_t row_end = -1);

// Broadcasting element-wise arithmetic (NumPy rules).
Var add(const Var& a, const Var& b);
Var sub(const Var& a, const Var& b);
Var mul(const Var& a, const Var& b);
Var scale(const Var& x, float factor);

Var gelu(const Var& x);  // exact (erf) form
Var relu(const Var& x);
Var tanh(const Var& x);

// Over the last dimension. Fully masked (-inf) rows give zeros (softmax) / -inf (log_softmax).
Var softmax(const Var& x);
Var log_softmax(const Var& x);

// Over the last dimension; weight and bias have shape [C].
Var layer_norm(const Var& x, const Var& weight, const Var& bias, float eps = 1e-5f);

// Inverted dropout; identity when !training or p == 0. The mask is a pure function of
// (seed, element index): identical for every thread count, regenerated in backward.
Var dropout(const Var& x, float p, bool training, uint64_t seed);

// ids (i64, any shape) -> [..., dim] rows of weight [vocab, dim].
Var embedding(const Tensor& ids, const Var& weight);

struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  float label_smoothing = 0.0f;
  Tensor weight;  // optional f32 [C] class weights (PyTorch's `weight`): finite, >= 0
};
// logits [N, C], targets i64 [N] -> scalar mean loss over rows whose target is not ignored
// (with weights: the weighted mean, divided by the counted rows' total weight).
Var cross_entropy(const Var& logits, const Tensor& targets, const CrossEntropyOptions& options = {});

// cross_entropy(linear(x [N, D], weight [C, D]), targets) computed `chunk_rows` rows at a time
// (0: about 8 MB of logits) so the [N, C] logits never exist whole: output layers over large
// vocabularies. Gradients for x and weight.
Var linear_cross_entropy(const Var& x, const Var& weight, const Tensor& targets, int64_t ignore_index = -100,
                         int64_t chunk_rows = 0, float label_smoothing = 0.f);
Var sum(const Var& x);   // -> scalar (shape [])
Var mean(const Var& x);  // -> scalar
Var sum(const Var& x, int64_t dim, bool keepdim = false);
Var mean(const Var& x, int64_t dim, bool keepdim = false);

Var reshape(const Var& x, const Shape& shape);  // one dimension may be -1
Var permute(const Var& x, const std::vector<int64_t>& dims);
Var concat(const std::vector<Var>& parts, int64_t dim);
Var slice(const Var& x, int64_t dim, int64_t start, int64_t end);

// Images [B, C, H, W] -> patch vectors [B, (H/p)(W/p), C p p] (see kernels/gather.h for order).
Var patchify(const Var& images, int64_t patch);

inline Var operator+(const Var& a, const Var& b) { return add(a, b); }
inline Var operator-(const Var& a, const Var& b) { return sub(a, b); }
inline Var operator*(const Var& a, const Var& b) { return mul(a, b); }

}  // namespace heed
