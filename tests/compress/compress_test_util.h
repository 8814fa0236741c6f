// Shared by the compression tests (int8, bf16): the small ViT they convert and how its converted
// logits are compared with the f32 ones.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "heed/core/tensor.h"
#include "heed/core/rng.h"
#include "heed/nn/models/vit.h"
#include "heed/train/data_parallel.h"

namespace heed::test {

// 16 x 16 images, patch 4, width 32, 2 blocks of 4 heads, 5 classes.
inline nn::VitConfig small_compress_vit() {
  nn::VitConfig c;
  c.image_height = c.image_width = 16;
  c.patch_size = 4;
  c.dim = 32;
  c.depth = 2;
  c.heads = 4;
  c.num_classes = 5;
  return c;
}

// The weights of small_compress_vit() that int8 and bf16 convert: per block the packed QKV, the
// output projection, fc1 and fc2; then the head.
inline std::vector<std::string> small_compress_vit_gemm_weights() {
  std::vector<std::string> names;
  for (int b = 0; b < 2; ++b)
    for (const char* p : {"attn.qkv.weight", "attn.proj.weight", "mlp.fc1.weight", "mlp.fc2.weight"})
      names.push_back("blocks." + std::to_string(b) + "." + p);
  names.push_back("head.weight");
  return names;
}

struct LogitsComparison {
  double worst = 0;          // max |reference - converted|
  double range = 0;          // max |reference|
  int64_t same_class = 0;    // rows whose arg-max agrees
};

// Both [rows, classes].
inline LogitsComparison compare_logits(const Tensor& reference, const Tensor& converted) {
  LogitsComparison c;
  const int64_t rows = reference.size(0), classes = reference.size(1);
  for (int64_t i = 0; i < rows; ++i) {
    int64_t a = 0, b = 0;
    for (int64_t j = 0; j < classes; ++j) {
      const float x = reference.f32()[i * classes + j], y = converted.f32()[i * classes + j];
      c.worst = std::max(c.worst, std::fabs(double(x) - y));
      c.range = std::max(c.range, std::fabs(double(x)));
      if (x > reference.f32()[i * classes + a]) a = j;
      if (y > converted.f32()[i * classes + b]) b = j;
    }
    c.same_class += a == b;
  }
  return c;
}

// heed eval predicts through one data-parallel replica per thread: each must run the converted
// (int8 or bf16) weights, whose logits differ from the f32 ones by 1e-3 and more, so the
// replicas' logits must equal the converted model's own within 1e-5.
inline void expect_replicas_run_the_converted_weights(nn::VisionTransformer& model) {
  Rng rng(6);
  const Tensor images = Tensor::uniform({6, 1, 16, 16}, rng, 0.f, 1.f);
  train::DataParallel parallel(model, 2);
  nn::Batch data;
  data.tensors = {{"images", images}};
  const Tensor split = parallel.predict(data).logits.value();
  NoGradGuard no_grad;
  const Tensor whole = model.forward(Var(images)).value();
  for (int64_t i = 0; i < whole.numel(); ++i) ASSERT_NEAR(split.f32()[i], whole.f32()[i], 1e-5) << i;
}

}  // namespace heed::test
