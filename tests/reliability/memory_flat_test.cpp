// Memory stays flat over a long run of training steps: a tiny Vision Transformer (8x8 images,
// dropout and drop-path on, so the dropout masks and their seeds are exercised) trained for 300
// steps with AdamW, gradient clipping and a no-grad evaluation every 10 steps. Measured with
// counters that do not depend on the machine or its load: the tensor storage heed's allocator
// has handed out and not freed must be exactly the same after every step from step 50 to 300
// (one leaked activation or autograd node per step keeps its tensors alive and shows at once),
// and glibc's in-use heap (mallinfo2: every other object, e.g. leaked graph nodes) may not grow
// by more than kMaxHeapGrowthBytes. Nothing here reads the resident set, which the page cache,
// the allocator and ASan's quarantine move for reasons of their own.
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <string>

#include "heed/autograd/variable.h"
#include "heed/core/allocator.h"
#include "heed/core/rng.h"
#include "heed/nn/models/vit.h"
#include "heed/ops/ops.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"

namespace heed {
namespace {

// 250 steps x one leaked 100-byte object = 25 KB: far below this; one leaked autograd node per
// step (a closure, shapes, slots: several hundred bytes) is near it, a leaked graph far above.
constexpr int64_t kMaxHeapGrowthBytes = int64_t{64} << 10;
constexpr int kWarmupSteps = 50, kSteps = 300;

// glibc's heap in use: small blocks (uordblks) plus mmap'd large ones (hblkhd).
int64_t heap_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return int64_t(m.uordblks + m.hblkhd);
}

TEST(ReliabilityMemoryFlat, ThreeHundredTrainingStepsKeepLiveMemoryFlat) {
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

  size_t live_after_warmup = 0;
  int64_t heap_after_warmup = 0;
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
      nn::AttentionRecorder attention;
      (void)model.forward(Var(images), &attention);
    }
    const size_t live = allocator_stats().live_bytes;
    if (step == kWarmupSteps) {
      live_after_warmup = live;
      heap_after_warmup = heap_in_use();
    }
    if (step > kWarmupSteps) {
      ASSERT_EQ(live, live_after_warmup) << "tensor storage in use changed at step " << step;
    }
  }
  const int64_t heap_growth = heap_in_use() - heap_after_warmup;
  RecordProperty("live_tensor_bytes", std::to_string(live_after_warmup));
  RecordProperty("heap_growth_bytes", std::to_string(heap_growth));
  EXPECT_LT(heap_growth, kMaxHeapGrowthBytes) << "the heap in use grew by " << heap_growth
                                              << " bytes from step " << kWarmupSteps << " to " << kSteps;
  // The steps did train (the run is not a no-op that trivially keeps memory flat).
  EXPECT_LT(last_loss, first_loss);
}

}  // namespace
}  // namespace heed
