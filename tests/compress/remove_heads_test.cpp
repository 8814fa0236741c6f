// Physically removing attention heads (heed prune --heads --out): a pruned checkpoint computes
// what the original computes with those heads masked (compress::mask_heads, itself tested against
// dropping the heads' output-projection columns), removing none changes nothing bit for bit, the
// projections shrink by the heads removed, and impossible requests are refused.
#include "heed/compress/remove_heads.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "heed/compress/head_pruning.h"
#include "heed/compress/quantize.h"
#include "heed/nn/models/vit.h"
#include "heed/tasks/image_classification.h"
#include "test_files.h"
#include "test_util.h"

namespace heed {
namespace {

// A 2-block, 4-head ViT on 8 x 8 images (head width 4), written as a checkpoint.
void write_four_head_vit(const std::string& path) {
  tasks::CheckpointInfo info;
  info.config = tasks::parse_config(nlohmann::json::parse(
      R"({"model": {"patch_size": 4, "dim": 16, "depth": 2, "heads": 4},
          "data": {"eval_batch_size": 8, "class_names": ["a", "b", "c"]}})"));
  info.config.model.image_height = info.config.model.image_width = 8;
  info.config.model.channels = 1;
  info.config.model.num_classes = 3;
  info.normalization = {{0.5f}, {0.25f}};
  nn::VisionTransformer model(info.config.model, 7);
  // Non-zero biases, so dropping the wrong bias rows would show.
  for (auto& [name, var] : model.named_parameters())
    if (name.find("bias") != std::string::npos) {
      Rng rng(name.size());
      var->value().copy_(Tensor::uniform(var->value().shape(), rng, -0.3f, 0.3f));
    }
  tasks::save_checkpoint(path, model, info, {});
}

Tensor logits(nn::VisionTransformer& model, const Tensor& images) {
  NoGradGuard no_grad;
  return model.forward(Var(images)).value().clone();
}

TEST(RemoveHeads, RemovedHeadsComputeWhatMaskingComputes) {
  test::ScratchDir dir("heed_heads_");
  const std::string path = dir / "vit.safetensors", out = dir / "pruned.safetensors";
  write_four_head_vit(path);
  const std::vector<std::vector<bool>> pruned = {{false, true, false, false}, {true, false, false, true}};
  const compress::RemovedHeads r = compress::remove_heads(train::read_checkpoint(path), pruned, out);
  EXPECT_EQ(r.layer_heads, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(r.removed, 3);
  // Each head removed takes 3 x 4 rows of 16 weights and 12 biases in, 16 x 4 weights out.
  EXPECT_EQ(r.parameters_before - r.parameters_after, 3 * (3 * 4 * 16 + 3 * 4 + 16 * 4));

  tasks::LoadedModel original = tasks::load_model(path), smaller = tasks::load_model(out);
  EXPECT_EQ(smaller.info.config.model.layer_heads, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(smaller.model->blocks[1]->attn.in_proj_weight.value().shape(), (Shape{3 * 2 * 4, 16}));
  EXPECT_EQ(smaller.model->blocks[1]->attn.out_proj.weight.value().shape(), (Shape{16, 2 * 4}));
  compress::mask_heads(*original.model, pruned);
  Rng rng(3);
  const Tensor images = Tensor::uniform({5, 1, 8, 8}, rng, -1.f, 1.f);
  const Tensor want = logits(*original.model, images), got = logits(*smaller.model, images);
  // The same sums over fewer (zero) terms in other GEMM shapes: equal to rounding.
  for (int64_t i = 0; i < want.numel(); ++i) ASSERT_NEAR(got.f32()[i], want.f32()[i], 1e-5) << i;

  // The pruned checkpoint can be pruned again (per-layer counts differ now).
  const compress::RemovedHeads again =
      compress::remove_heads(train::read_checkpoint(out), {{true, false, false}, {false, false}}, dir / "again.safetensors");
  EXPECT_EQ(again.layer_heads, (std::vector<int64_t>{2, 2}));
}

TEST(RemoveHeads, RemovingNoHeadsChangesNothing) {
  test::ScratchDir dir("heed_heads_");
  const std::string path = dir / "vit.safetensors", out = dir / "same.safetensors";
  write_four_head_vit(path);
  const compress::RemovedHeads r =
      compress::remove_heads(train::read_checkpoint(path), {{false, false, false, false}, {false, false, false, false}}, out);
  EXPECT_EQ(r.removed, 0);
  EXPECT_EQ(r.parameters_before, r.parameters_after);
  tasks::LoadedModel original = tasks::load_model(path), same = tasks::load_model(out);
  Rng rng(4);
  const Tensor images = Tensor::uniform({3, 1, 8, 8}, rng, -1.f, 1.f);
  const Tensor a = logits(*original.model, images), b = logits(*same.model, images);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.f32()[i], b.f32()[i]) << i;
}

TEST(RemoveHeads, RefusesAnEmptyLayerAWrongShapeAQuantizedCheckpointAndAnExistingOut) {
  test::ScratchDir dir("heed_heads_");
  const std::string path = dir / "vit.safetensors", out = dir / "pruned.safetensors";
  write_four_head_vit(path);
  const train::Checkpoint ckpt = train::read_checkpoint(path);
  EXPECT_CONTAINS(test::error_message([&] {
                    compress::remove_heads(ckpt, {{true, true, true, true}, {false, false, false, false}}, out);
                  }),
                  "keeps at least one");
  EXPECT_CONTAINS(test::error_message([&] { compress::remove_heads(ckpt, {{false, false, false, false}}, out); }),
                  "2 attention layers");
  EXPECT_CONTAINS(test::error_message([&] { compress::remove_heads(ckpt, {{false}, {false}}, out); }), "4 heads");
  compress::quantize_checkpoint(ckpt, dir / "int8.safetensors");
  EXPECT_CONTAINS(test::error_message([&] {
                    compress::remove_heads(train::read_checkpoint(dir / "int8.safetensors"),
                                           {{false, false, false, false}, {false, false, false, false}}, out);
                  }),
                  "quantised");
  test::write_text(out, "x");
  EXPECT_CONTAINS(test::error_message([&] {
                    compress::remove_heads(ckpt, {{false, false, false, false}, {false, false, false, false}}, out);
                  }),
                  "exists");
}

TEST(RemoveHeads, LayerHeadsAreValidatedWhereTheConfigIsRead) {
  auto config_error = [](const char* layer_heads) {
    return test::error_message([&] {
      tasks::parse_config(nlohmann::json::parse(std::string(R"({"model": {"depth": 2, "heads": 4, "layer_heads": )") +
                                                layer_heads + "}}"))
          .model.validate();
    });
  };
  EXPECT_CONTAINS(config_error("[4, 0]"), "layer_heads");
  EXPECT_CONTAINS(config_error("[4, 5]"), "layer_heads[1] is 5");
  EXPECT_CONTAINS(config_error("[4]"), "1 counts for 2 layers");
  EXPECT_CONTAINS(config_error("[4, 2.5]"), "whole numbers");
  EXPECT_EQ(config_error("[4, 1]"), "(no error)");
}

}  // namespace
}  // namespace heed
