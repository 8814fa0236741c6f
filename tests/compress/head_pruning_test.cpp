// Head importance against finite differences of the loss (a head's gate is emulated by scaling
// the value rows it reads, which scales its output exactly), the pruning order's rules, and
// masking a head against removing its output columns from the projection.
#include "heed/compress/head_pruning.h"
#include "heed/compress/prune.h"
#include "heed/compress/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/rng.h"
#include "heed/data/idx.h"
#include "heed/data/loader.h"
#include "heed/nn/attention.h"
#include "heed/nn/models/vit.h"
#include "heed/ops/ops.h"
#include "heed/tasks/classification.h"
#include "heed/tasks/image_classification.h"
#include "cli_util.h"
#include "test_files.h"

namespace heed::compress {
namespace {

nn::VitConfig small_vit() {
  nn::VitConfig c;
  c.image_height = c.image_width = 8;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 2;
  c.heads = 4;
  c.num_classes = 3;
  return c;
}

std::vector<nn::MultiHeadAttention*> attention_of(nn::Module& m) {
  std::vector<nn::MultiHeadAttention*> out;
  m.for_each_module([&](nn::Module& x) {
    if (auto* a = dynamic_cast<nn::MultiHeadAttention*>(&x)) out.push_back(a);
  });
  return out;
}

// Multiplies head `h`'s value rows (weights and bias) of attention layer `l` by `factor`.
void scale_values(nn::Module& model, size_t l, int64_t h, float factor) {
  nn::MultiHeadAttention& a = *attention_of(model)[l];
  Tensor w = a.in_proj_weight.value(), b = a.in_proj_bias.value();
  const int64_t first = 2 * a.embed_dim + h * a.head_dim;
  for (int64_t i = first * a.embed_dim; i < (first + a.head_dim) * a.embed_dim; ++i) w.f32()[i] *= factor;
  for (int64_t i = first; i < first + a.head_dim; ++i) b.f32()[i] *= factor;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct Fixture {
  nn::VisionTransformer model{small_vit(), 5};
  data::ImageSet set;
  tasks::ClassificationTask task{tasks::kImageClassification, {"a", "b", "c"}, 0.f};
  Fixture() {
    Rng rng(3);
    // Larger weights than the init's so that heads differ clearly in importance.
    for (auto& [name, p] : model.named_parameters())
      for (int64_t i = 0; i < p->value().numel(); ++i) p->value().f32()[i] += 0.3f * rng.normal();
    set.images = Tensor::uniform({3, 1, 8, 8}, rng, 0.f, 1.f);
    set.labels = Tensor::empty({3}, DType::I64);
    for (int64_t i = 0; i < 3; ++i) set.labels.i64()[i] = i;
    set.num_classes = 3;
    model.eval();
  }
  double loss_of(int64_t example) {
    NoGradGuard no_grad;
    const tasks::ImageDataset data(set, {});
    const nn::Batch batch = data.batch({example}, {});
    return double(task.loss(model.forward(batch), batch).value().f32()[0]);
  }
};

TEST(HeadPruning, ImportanceIsTheSummedAbsoluteGateDerivative) {
  Fixture f;
  const tasks::ImageDataset data(f.set, {});
  const train::ShuffledBatches plan({0, 1, 2}, 3, false, false, 0);  // one batch of all three
  const HeadImportance got = head_importance(f.model, f.task, data, plan, 0);
  ASSERT_EQ(got.raw.size(), 2u);
  ASSERT_EQ(got.raw[0].size(), 4u);
  EXPECT_EQ(got.examples, 3);
  const float eps = 1e-2f;
  double smallest = 1e30, largest = 0;
  for (size_t l = 0; l < 2; ++l)
    for (int64_t h = 0; h < 4; ++h) {
      double want = 0;  // sum over examples of |dL_x / d gate|, each by central differences
      for (int64_t x = 0; x < 3; ++x) {
        scale_values(f.model, l, h, 1 + eps);
        const double up = f.loss_of(x);
        scale_values(f.model, l, h, (1 - eps) / (1 + eps));
        const double down = f.loss_of(x);
        scale_values(f.model, l, h, 1 / (1 - eps));
        want += std::fabs((up - down) / (2 * eps));
      }
      EXPECT_NEAR(got.raw[l][size_t(h)], want, 2e-3 * want + 2e-4) << "layer " << l << " head " << h;
      smallest = std::min(smallest, want);
      largest = std::max(largest, want);
    }
  // The heads must differ for the test to mean anything (and the values be far above the tolerance).
  EXPECT_GT(largest, 0.05);
  EXPECT_GT(largest, 3 * smallest);
  // Normalised per layer to unit l2 norm.
  for (const auto& layer : got.normalized) {
    double n = 0;
    for (double v : layer) n += v * v;
    EXPECT_NEAR(n, 1.0, 1e-9);
  }
  // max_examples stops early: the first example alone.
  const HeadImportance first = head_importance(f.model, f.task, data, plan, 1);
  EXPECT_EQ(first.examples, 1);
  EXPECT_LT(first.raw[0][0], got.raw[0][0] + 1e-12);
}

TEST(HeadPruning, LeastImportantFirstEveryLayerKeepsOneAndFractionsNest) {
  HeadImportance imp;
  imp.normalized = {{0.1, 0.2, 0.9}, {0.05, 0.06}};
  using Mask = std::vector<std::vector<bool>>;
  EXPECT_EQ(heads_to_prune(imp, 0.0), (Mask{{false, false, false}, {false, false}}));
  EXPECT_EQ(heads_to_prune(imp, 0.2), (Mask{{false, false, false}, {true, false}}));  // 1 of 5
  // 3 of 5: layer 1's second head is next in order but its layer's last; it is skipped.
  EXPECT_EQ(heads_to_prune(imp, 0.6), (Mask{{true, true, false}, {true, false}}));
  EXPECT_EQ(heads_to_prune(imp, 1.0), (Mask{{true, true, false}, {true, false}}));  // at most 3
  EXPECT_NE(error_of([&] { heads_to_prune(imp, 1.5); }).find("[0, 1], got 1.5"), std::string::npos);
}

TEST(HeadPruning, MaskingAHeadEqualsDroppingItsOutputColumns) {
  Fixture masked, dropped, untouched;
  const Var images(masked.set.images);
  Tensor before;
  {
    NoGradGuard no_grad;
    before = untouched.model.forward(images).value().clone();
  }
  mask_heads(untouched.model, {{false, false, false, false}, {false, false, false, false}});
  NoGradGuard no_grad;
  const Tensor same = untouched.model.forward(images).value();
  for (int64_t i = 0; i < before.numel(); ++i) ASSERT_EQ(same.f32()[i], before.f32()[i]) << "nothing masked";

  mask_heads(masked.model, {{false, true, false, false}, {false, false, false, true}});
  // The same heads removed the other way: the output projection ignores their features.
  for (auto [l, h] : {std::pair<size_t, int64_t>{0, 1}, {1, 3}}) {
    nn::MultiHeadAttention& a = *attention_of(dropped.model)[l];
    Tensor w = a.out_proj.weight.value();  // [E, E]: input features h * d .. (h + 1) * d
    for (int64_t r = 0; r < a.embed_dim; ++r)
      for (int64_t c = h * a.head_dim; c < (h + 1) * a.head_dim; ++c) w.f32()[r * a.embed_dim + c] = 0.f;
  }
  const Tensor a = masked.model.forward(images).value(), b = dropped.model.forward(images).value();
  double changed = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    EXPECT_NEAR(a.f32()[i], b.f32()[i], 1e-5) << i;
    changed = std::max(changed, std::fabs(double(a.f32()[i]) - before.f32()[i]));
  }
  EXPECT_GT(changed, 1e-3) << "masking changed nothing";
  EXPECT_NE(error_of([&] { mask_heads(masked.model, {{false}}); }).find("2 attention layers"), std::string::npos);
  EXPECT_NE(error_of([&] { mask_heads(masked.model, {{false}, {false}}); }).find("has 4 heads"), std::string::npos);
}

TEST(HeadPruning, ReportOnACheckpointStartsAtItsEvalAccuracyAndRefusesBadRequests) {
  test::ScratchDir dir("heed_prune_");
  test::write_image_split(dir.path(), "train", 12, 1);
  test::write_image_split(dir.path(), "t10k", 9, 2);
  const std::string ckpt = dir / "vit.safetensors";
  test::write_tiny_vit_checkpoint(ckpt, 8);  // depth 1, 2 heads
  PruneOptions o;
  o.data = o.eval_data = dir.path().string();
  o.samples = 10;
  o.curve = {0, 0.5, 1};
  const PruneReport r = prune_report(train::read_checkpoint(ckpt), o);
  EXPECT_EQ(r.metric_name, "accuracy");
  EXPECT_EQ(r.importance.examples, 10);  // of the 12 training images
  ASSERT_EQ(r.importance.raw.size(), 1u);
  ASSERT_EQ(r.importance.raw[0].size(), 2u);
  ASSERT_EQ(r.curve.size(), 3u);
  EXPECT_EQ(r.curve[0].removed, 0);
  EXPECT_EQ(r.curve[1].removed, 1);
  EXPECT_EQ(r.curve[2].removed, 1);  // the layer keeps one head
  // Nothing masked: what `heed eval` reports on the same test split.
  tasks::LoadedModel m = tasks::load_model(ckpt);
  data::ImageSet test_set = data::load_idx_split(dir.path().string(), "t10k");
  data::normalize_inplace(test_set.images, m.info.normalization);
  const train::EvalResult e = tasks::evaluate(*m.model, test_set.images, test_set.labels, 8, {"a", "b", "c"});
  EXPECT_EQ(r.curve[0].metric, e.metric);
  EXPECT_NEAR(r.curve[0].loss, e.loss, 1e-12);
  EXPECT_EQ(r.json().at("curve").size(), 3u);

  o.curve = {1.5};
  EXPECT_NE(error_of([&] { prune_report(train::read_checkpoint(ckpt), o); }).find("[0, 1], got 1.5"),
            std::string::npos);
  o.curve = {0.5};
  const std::string int8 = dir / "int8.safetensors";
  quantize_checkpoint(train::read_checkpoint(ckpt), int8);
  EXPECT_NE(error_of([&] { prune_report(train::read_checkpoint(int8), o); }).find("is quantised"), std::string::npos);
  o.data = dir / "missing";
  EXPECT_NE(error_of([&] { prune_report(train::read_checkpoint(ckpt), o); }).find("missing"), std::string::npos);
}

}  // namespace
}  // namespace heed::compress
