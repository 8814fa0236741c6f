// A weight matrix in bf16 for inference (kernels/bf16.h): each value rounded to nearest even.
// Linear layers and attention projections hold one beside their f32 weight after
// Module::convert_bf16 (nn/module.h).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "heed/core/tensor.h"
#include "heed/kernels/bf16.h"

namespace heed {

struct Bf16Matrix {
  int64_t rows = 0, cols = 0;
  std::vector<uint16_t> bits;  // [rows, cols]
  // The values widened to f32: the emulated GEMM's operand on CPUs without bf16 dot products
  // (empty where the CPU has them).
  std::vector<float> widened;
  // bits in the layout oneDNN's bf16 matmul wants, made on first use (shared by copies and replicas).
  std::shared_ptr<kernels::PackedWeightCache> packed = std::make_shared<kernels::PackedWeightCache>();

  // Rounds an f32 [rows, cols] tensor (non-finite values: an error naming `name`).
  static Bf16Matrix convert(const Tensor& weight, const std::string& name);
  Tensor widen() const;  // f32 [rows, cols]
};

}  // namespace heed
