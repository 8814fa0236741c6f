// A weight matrix in int8 for inference: one scale per row (per output channel), so
// W[r, c] ~ q[r, c] * scale[r] with |W - q * scale| <= scale / 2 (kernels/int8.h). Linear layers
// and attention projections hold one beside their f32 weight once quantised (nn/module.h).
#pragma once

#include <cstdint>
#include <vector>

#include "heed/core/tensor.h"
#include "heed/kernels/int8.h"

namespace heed {

struct Int8Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<int8_t> q;          // [rows, cols]
  std::vector<float> scale;       // [rows]
  std::vector<int32_t> row_sums;  // sum of each row of q (the int8 GEMM's offset correction)
  // > 0: the calibrated largest |x| of this layer's inputs (heed quantize --calibrate): its
  // activations are quantised with the fixed scale input_range / levels (static); 0: each row
  // over its own max |x| at run time (dynamic).
  float input_range = 0.f;
  // q in the layout the int8 GEMM wants, made on first use (shared by copies and replicas).
  std::shared_ptr<kernels::PackedWeightCache> packed = std::make_shared<kernels::PackedWeightCache>();

  // Per-row symmetric quantisation of an f32 [rows, cols] tensor (non-finite values: an error).
  static Int8Matrix quantize(const Tensor& weight);
  // From stored values: q as i64 [rows, cols] within [-127, 127], scale f32 [rows], finite and
  // >= 0. `name` is the weight's, for errors.
  static Int8Matrix from_stored(const Tensor& q, const Tensor& scale, const std::string& name);
  Tensor dequantize() const;  // f32 [rows, cols]
  Tensor stored_q() const;    // i64 [rows, cols], for checkpoints (stored as I8)
  Tensor stored_scale() const;
};

}  // namespace heed
