// Memory stays flat over a long run of training steps: a tiny Vision Transformer (8x8 images,
// dropout and drop-path on, so the dropout masks and their seeds are exercised) trained for 300
// steps with AdamW, gradient clipping and a no-grad evaluation every 10 steps. The resident set
// (VmRSS) after step 300 may exceed the one after step 50, when every buffer size has been seen
// and heed's allocator cache is warm, by less than kMaxGrowthBytes: a leak of one activation or
// one autograd node per step would exceed that.
//
// Not run under AddressSanitizer: its quarantine keeps freed memory resident on purpose (up to
// 256 MB), and LeakSanitizer already checks every test for leaks there.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "heed/autograd/variable.h"
#include "heed/core/rng.h"
#include "heed/nn/models/vit.h"
#include "heed/ops/ops.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"
#include "test_util.h"

namespace heed {
namespace {

constexpr int64_t kMaxGrowthBytes = int64_t{5} << 20;
constexpr int kWarmupSteps = 50, kSteps = 300;

int64_t resident_bytes() { return test::proc_status_bytes("VmRSS"); }

using test::kAddressSanitizer;

TEST(ReliabilityMemoryFlat, ThreeHundredTrainingStepsDoNotGrowTheResidentSet) {
  if (kAddressSanitizer)
    GTEST_SKIP() << "ASan's quarantine keeps freed memory resident; LeakSanitizer covers leaks here";
  ASSERT_GT(resident_bytes(), 0) << "no VmRSS in /proc/self/status";
  nn::VitConfig config;
  config.image_height = config.image_width = 8;
  config.channels = 1;
  config.num_classes = 4;
  config.patch_size = 4;
  config.dim = 32;
  config.depth = 2;
  config.heads = 2;
  config.dropout = 0.1f;
  config.drop_path = 0.1f;
  nn::VisionTransformer model(config, 1);
  optim::AdamWOptions options;
  options.lr = 1e-3f;
  optim::AdamW optimizer(optim::make_params(model.named_parameters()), options);

  Rng rng(7);
  constexpr int64_t kBatch = 16;
  const Tensor images = Tensor::randn({kBatch, 1, 8, 8}, rng);
  std::vector<int64_t> label_values;
  for (int64_t i = 0; i < kBatch; ++i) label_values.push_back(i % config.num_classes);
  const Tensor labels = Tensor::from_indices({kBatch}, label_values);

  int64_t after_warmup = 0;
  float first_loss = 0, last_loss = 0;
  for (int step = 1; step <= kSteps; ++step) {
    model.train();
    Var loss = cross_entropy(model.forward(Var(images)), labels);
    last_loss = loss.value().item();
    if (step == 1) first_loss = last_loss;
    loss.backward();
    optim::clip_grad_norm(optimizer.params(), 1.0f);
    optimizer.step();
    optimizer.zero_grad();
    if (step % 10 == 0) {
      NoGradGuard no_grad;
      model.eval();
      std::vector<Tensor> attention;
      (void)model.forward(Var(images), &attention);
    }
    if (step == kWarmupSteps) after_warmup = resident_bytes();
  }
  const int64_t at_end = resident_bytes();
  const int64_t growth = at_end - after_warmup;
  RecordProperty("rss_after_warmup_kb", std::to_string(after_warmup / 1024));
  RecordProperty("rss_at_end_kb", std::to_string(at_end / 1024));
  EXPECT_LT(growth, kMaxGrowthBytes) << "VmRSS grew by " << growth / 1024 << " KiB from step "
                                     << kWarmupSteps << " (" << after_warmup / 1024 << " KiB) to step "
                                     << kSteps << " (" << at_end / 1024 << " KiB)";
  // The steps did train (the run is not a no-op that trivially keeps memory flat).
  EXPECT_LT(last_loss, first_loss);
}

}  // namespace
}  // namespace heed
