// VisionTransformer against a PyTorch ViT with timm's architecture and names: the golden file
// tests/golden/vit/vit_tiny.safetensors is a heed checkpoint written by tools/export_vit.py
// (--golden tests/golden/vit) plus `golden.images` [4, 1, 8, 8] and `golden.logits` [4, 3]
// (PyTorch's eval-mode output). Also: parameter names, config validation, forward checks and a
// gradient check of the whole model.
#include "heed/nn/models/vit.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "heed/tasks/image_classification.h"
#include "ops/gradcheck.h"
#include "test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;

// Absolute, on logits of order 1: measured worst 9.5e-7 (post-norm; pre-norm 7.2e-7) over every
// SIMD target, the fused and the reference attention paths and the -O1 sanitizer build.
constexpr double kLogitTolerance = 2e-6;

std::string golden_path(const std::string& file = "vit_tiny.safetensors") {
  return std::string(HEED_GOLDEN_DIR) + "/vit/" + file;
}
// Both golden models: pre-norm (timm's blocks) and post-norm.
const char* const kGoldenFiles[] = {"vit_tiny.safetensors", "vit_tiny_postnorm.safetensors"};
std::string export_script() {
  return (fs::path(HEED_GOLDEN_DIR) / ".." / ".." / "tools" / "export_vit.py").lexically_normal().string();
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error thrown";
  return "";
}

bool is_golden(const std::string& name) { return name.rfind("golden.", 0) == 0; }

// The model of a golden checkpoint. tasks::load_model loads strictly, so it rejects the extra
// golden.* tensors: rebuild the model from the checkpoint's info and load the rest.
std::unique_ptr<nn::VisionTransformer> model_from_golden(const std::string& path,
                                                         tasks::CheckpointInfo* info = nullptr) {
  const train::Checkpoint ckpt = train::read_checkpoint(path);
  const tasks::CheckpointInfo ckpt_info = tasks::checkpoint_info(ckpt);
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : ckpt.model)
    if (!is_golden(name)) state[name] = t;
  auto model = std::make_unique<nn::VisionTransformer>(ckpt_info.config.model, 0);
  model->load_state_dict(state);  // strict: every remaining tensor is a parameter
  model->eval();
  if (info) *info = ckpt_info;
  return model;
}

void expect_logits_match(nn::VisionTransformer& model, const io::SafetensorsFile& file,
                         const std::string& what) {
  const Tensor& images = file.get("golden.images");
  const Tensor& want = file.get("golden.logits");
  for (bool with_attention : {false, true}) {  // without, then with the attention captured
    NoGradGuard no_grad;
    nn::AttentionRecorder maps;
    const Tensor got = model.forward(Var(images), with_attention ? &maps : nullptr).value();
    ASSERT_EQ(got.shape(), want.shape()) << what;
    const std::vector<float> g = got.to_vector(), w = want.to_vector();
    test::report_errors(what + (with_attention ? " (attention captured)" : ""), g, w);
    EXPECT_TRUE(test::all_close(g, w, kLogitTolerance, 0))
        << what << (with_attention ? " (attention captured)" : "");
    ::testing::Test::RecordProperty(with_attention ? "max_abs_error_captured" : "max_abs_error",
                                    std::to_string(test::measured_errors(g, w).max_abs));
  }
}

// A fresh directory per test under ::testing::TempDir().
class VitTempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("heed_" + std::string(info->test_suite_name()) + "_" +
                                             info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

// ---------------------------------------------------------------- golden (PyTorch) logits

TEST(VitGolden, MatchesPyTorchLogits) {
  const io::SafetensorsFile file = io::read_safetensors(golden_path());
  tasks::CheckpointInfo info;
  auto model = model_from_golden(golden_path(), &info);
  // The metadata written by export_vit.py reads back as the golden config.
  const nn::VitConfig& c = info.config.model;
  EXPECT_EQ(c.image_height, 8);
  EXPECT_EQ(c.image_width, 8);
  EXPECT_EQ(c.channels, 1);
  EXPECT_EQ(c.num_classes, 3);
  EXPECT_EQ(c.patch_size, 4);
  EXPECT_EQ(c.dim, 16);
  EXPECT_EQ(c.depth, 2);
  EXPECT_EQ(c.heads, 2);
  EXPECT_EQ(c.mlp_ratio, 2.0);
  EXPECT_TRUE(c.pre_norm);
  EXPECT_EQ(c.layer_norm_eps, 1e-6f);
  EXPECT_EQ(info.config.data.class_names, (std::vector<std::string>{"left", "middle", "right"}));
  EXPECT_EQ(info.normalization.mean, std::vector<float>{0.25f});
  EXPECT_EQ(info.normalization.std, std::vector<float>{0.5f});
  EXPECT_EQ(info.state.seed_state, (std::pair<uint64_t, uint64_t>{0, 0}));
  // The config JSON is in heed's own layout: heed writes back exactly what the file holds, and
  // a key the file predates (e.g. train.ema_decay) reads as its default.
  nlohmann::json expected = tasks::to_json(tasks::ImageClassifierConfig{});
  expected.merge_patch(nlohmann::json::parse(file.metadata.at("config")));
  EXPECT_EQ(tasks::to_json(info.config), expected);
  for (const char* key : {"format", "task", "model", "config", "trainer"})
    EXPECT_TRUE(file.metadata.count(key)) << key;
  EXPECT_EQ(file.metadata.at("format"), "heed-checkpoint-1");
  EXPECT_EQ(file.metadata.at("task"), "image-classification");
  EXPECT_EQ(file.metadata.at("model"), "vit");
  expect_logits_match(*model, file, golden_path());
}

TEST(VitGolden, PostNormMatchesPyTorchLogits) {
  const std::string path = golden_path("vit_tiny_postnorm.safetensors");
  tasks::CheckpointInfo info;
  auto model = model_from_golden(path, &info);
  EXPECT_FALSE(info.config.model.pre_norm);
  expect_logits_match(*model, io::read_safetensors(path), path);
}

// Every parameter's gradient of cross_entropy(logits, labels, label_smoothing = 0.1) against
// PyTorch autograd on the same model (tools/export_vit.py --golden): the whole backward of a
// ViT, beyond what central differences can resolve.
void expect_gradients_match(const std::string& golden_file) {
  const io::SafetensorsFile file = io::read_safetensors(golden_path(golden_file));
  auto model = model_from_golden(golden_path(golden_file));
  CrossEntropyOptions loss_options;
  loss_options.label_smoothing = 0.1f;
  for (bool with_attention : {false, true}) {  // without, then with the attention captured
    nn::AttentionRecorder maps;
    maps.gradients = true;
    cross_entropy(model->forward(Var(file.get("golden.images")), with_attention ? &maps : nullptr),
                  file.get("golden.labels"), loss_options)
        .backward();
    int compared = 0;
    for (const auto& [name, var] : model->named_parameters()) {
      const std::string what =
          golden_file + " " + name + (with_attention ? " (attention captured)" : "");
      const std::vector<float> g = var->grad().to_vector();
      const std::vector<float> w = file.get("golden.grad." + name).to_vector();
      test::report_errors("vit grad " + what, g, w);
      // Gradients of order 0.01-1: measured worst 4.8e-7 absolute (pre-norm
      // blocks.0.attn.qkv.weight; post-norm 2.4e-7) over every SIMD target, both attention paths
      // and the -O1 sanitizer build; a 1% error in any gradient is far outside.
      EXPECT_TRUE(test::all_close(g, w, 1.2e-6, 1e-6)) << "gradient of " << what;
      var->zero_grad();
      ++compared;
    }
    EXPECT_EQ(compared, 4 + 2 * 12 + 4);  // patch embed, cls, pos; 12 per block; norm, head
  }
}

TEST(VitGolden, GradientsMatchPyTorch) { expect_gradients_match("vit_tiny.safetensors"); }
TEST(VitGolden, PostNormGradientsMatchPyTorch) {
  expect_gradients_match("vit_tiny_postnorm.safetensors");
}

TEST_F(VitTempDir, GoldenModelLoadsThroughLoadModel) {
  // The same checkpoint without the golden.* tensors is exactly what load_model expects.
  const io::SafetensorsFile file = io::read_safetensors(golden_path());
  std::vector<std::pair<std::string, Tensor>> model_only;
  for (const auto& [name, t] : file.tensors)
    if (!is_golden(name)) model_only.emplace_back(name, t);
  const std::string path = (dir_ / "vit_tiny_model.safetensors").string();
  io::write_safetensors(path, model_only, file.metadata);
  tasks::LoadedModel loaded = tasks::load_model(path);
  EXPECT_FALSE(loaded.model->training());
  expect_logits_match(*loaded.model, file, path);
  // Evaluate agrees with the golden argmax.
  const Tensor& logits = file.get("golden.logits");
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < logits.size(0); ++i) {
    const float* row = logits.f32() + i * logits.size(1);
    labels.push_back(std::max_element(row, row + logits.size(1)) - row);
  }
  const train::EvalResult e =
      tasks::evaluate(*loaded.model, file.get("golden.images"),
                      Tensor::from_indices({int64_t(labels.size())}, labels), 3,
                      loaded.info.config.data.class_names);
  EXPECT_EQ(e.predictions, labels);
  EXPECT_DOUBLE_EQ(e.metric, 1.0);
}

bool torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

void expect_regenerated_matches_committed(const fs::path& dir, const std::string& golden_file) {
  const std::string path = (dir / golden_file).string();
  const io::SafetensorsFile file = io::read_safetensors(path);
  auto model = model_from_golden(path);
  expect_logits_match(*model, file, path);
  // The script is deterministic: the regenerated file holds the committed weights and images
  // (drawn from torch's seeded CPU generator); the logits and gradients, computed, may differ in
  // the last ulps under another torch build or BLAS kernel.
  const io::SafetensorsFile committed = io::read_safetensors(golden_path(golden_file));
  ASSERT_EQ(file.tensors.size(), committed.tensors.size());
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name, t] = file.tensors[i];
    EXPECT_EQ(name, committed.tensors[i].first);
    const std::vector<float> got = t.to_vector(), want = committed.tensors[i].second.to_vector();
    ASSERT_EQ(got.size(), want.size()) << name;
    if (name == "golden.logits" || name.rfind("golden.grad.", 0) == 0) {
      EXPECT_TRUE(test::all_close(got, want, 1e-6, 1e-6)) << name;
    } else {
      EXPECT_EQ(got, want) << name << " differs from the committed golden file (regenerate it?)";
    }
  }
  EXPECT_EQ(file.metadata, committed.metadata);
}

TEST_F(VitTempDir, LiveExportMatchesPyTorch) {
  if (!torch_available())
    HEED_SKIP_WITHOUT_ORACLE("PyTorch is absent (/usr/bin/python3 -c 'import torch' failed); the "
                             "committed golden files are still checked by VitGolden.*");
  const std::string log = (dir_ / "export.log").string();
  const std::string command = "/usr/bin/python3 '" + export_script() + "' --golden '" +
                              dir_.string() + "' >'" + log + "' 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream output;
  output << in.rdbuf();
  ASSERT_EQ(rc, 0) << command << "\n" << output.str();
  for (const char* golden_file : kGoldenFiles) expect_regenerated_matches_committed(dir_, golden_file);
}

TEST_F(VitTempDir, LiveExportOfATorchStateDictLoads) {
  if (!torch_available())
    HEED_SKIP_WITHOUT_ORACLE("PyTorch is absent (/usr/bin/python3 -c 'import torch' failed)");
  // A state_dict saved by PyTorch with timm's names, exported with a heed config (sizes not in
  // the config are read from the tensors), then loaded by heed's load_model.
  const std::string pt = (dir_ / "vit.pt").string(), config = (dir_ / "config.json").string();
  const std::string out = (dir_ / "vit.safetensors").string(), log = (dir_ / "export.log").string();
  std::ofstream(config) << R"({"model": {"heads": 2, "layer_norm_eps": 1e-6}, "train": {"epochs": 2},
                              "data": {"class_names": ["a", "b", "c", "d"]}})";
  const std::string tools = fs::path(export_script()).parent_path().string();
  const std::string save =
      "/usr/bin/python3 -c \"import sys, torch; sys.path.insert(0, '" + tools +
      "'); import export_vit as ev; torch.manual_seed(3); "
      "m = ev.VisionTransformer(12, 12, 2, 4, patch_size=4, dim=8, depth=1, heads=2); "
      "torch.save(m.state_dict(), '" + pt + "')\" >'" + log + "' 2>&1";
  ASSERT_EQ(std::system(save.c_str()), 0) << save;
  const std::string command = "/usr/bin/python3 '" + export_script() + "' --torch-checkpoint '" + pt +
                              "' --config '" + config + "' --out '" + out +
                              "' --mean 0.5,0.4 --std 0.2,0.3 >>'" + log + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  tasks::LoadedModel m = tasks::load_model(out);
  const nn::VitConfig& c = m.info.config.model;
  EXPECT_EQ(c.image_height, 12);
  EXPECT_EQ(c.image_width, 12);
  EXPECT_EQ(c.channels, 2);
  EXPECT_EQ(c.num_classes, 4);
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.depth, 1);
  EXPECT_EQ(c.heads, 2);
  EXPECT_EQ(m.info.config.train.epochs, 2);
  EXPECT_EQ(m.info.normalization.mean, (std::vector<float>{0.5f, 0.4f}));
  EXPECT_EQ(m.info.normalization.std, (std::vector<float>{0.2f, 0.3f}));
  EXPECT_EQ(m.info.config.data.class_names, (std::vector<std::string>{"a", "b", "c", "d"}));
  NoGradGuard no_grad;
  Rng rng(1);
  const Tensor logits = m.model->forward(Var(Tensor::randn({2, 2, 12, 12}, rng))).value();
  EXPECT_EQ(logits.shape(), (Shape{2, 4}));
}

// ---------------------------------------------------------------- parameter names

TEST(Vit, ParameterNamesAreTimms) {
  nn::VitConfig c;
  c.image_height = c.image_width = 8;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.num_classes = 3;
  nn::VisionTransformer model(c, 0);
  // timm's VisionTransformer(depth=2).state_dict() names, in timm's order.
  std::vector<std::string> timm = {"cls_token", "pos_embed", "patch_embed.proj.weight",
                                   "patch_embed.proj.bias"};
  for (int i = 0; i < 2; ++i)
    for (const char* p : {"norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                          "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                          "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"})
      timm.push_back("blocks." + std::to_string(i) + "." + p);
  for (const char* p : {"norm.weight", "norm.bias", "head.weight", "head.bias"}) timm.push_back(p);

  std::vector<std::string> names;
  std::map<std::string, Shape> shapes;
  for (auto& [name, var] : model.named_parameters()) {
    names.push_back(name);
    shapes[name] = var->shape();
  }
  // heed registers the patch embedding before the class token and position embedding (timm's
  // order puts its own parameters first); names are what checkpoints key on, so compare the
  // exact list with that one swap, and the sets exactly.
  std::vector<std::string> heed_order = timm;
  std::rotate(heed_order.begin(), heed_order.begin() + 2, heed_order.begin() + 4);
  EXPECT_EQ(names, heed_order);
  std::vector<std::string> sorted_names = names, sorted_timm = timm;
  std::sort(sorted_names.begin(), sorted_names.end());
  std::sort(sorted_timm.begin(), sorted_timm.end());
  EXPECT_EQ(sorted_names, sorted_timm);

  EXPECT_EQ(shapes["patch_embed.proj.weight"], (Shape{16, 1, 4, 4}));
  EXPECT_EQ(shapes["patch_embed.proj.bias"], (Shape{16}));
  EXPECT_EQ(shapes["cls_token"], (Shape{1, 1, 16}));
  EXPECT_EQ(shapes["pos_embed"], (Shape{1, 5, 16}));
  EXPECT_EQ(shapes["blocks.1.attn.qkv.weight"], (Shape{48, 16}));
  EXPECT_EQ(shapes["blocks.1.mlp.fc1.weight"], (Shape{32, 16}));
  EXPECT_EQ(shapes["blocks.1.mlp.fc2.weight"], (Shape{16, 32}));
  EXPECT_EQ(shapes["head.weight"], (Shape{3, 16}));
  // state_dict uses the same names in the same order.
  std::vector<std::string> state_names;
  for (auto& [name, t] : model.state_dict()) state_names.push_back(name);
  EXPECT_EQ(state_names, names);
  // 16*16+16 + 16 + 5*16 + 2 * (4*16 + 48*16+48 + 16*16+16 + 32*16+32 + 16*32+16) + 32 + 3*16+3
  EXPECT_EQ(model.parameter_count(), 4899);  // == PyTorch's sum(p.numel()) for the same ViT
}

// ---------------------------------------------------------------- config validation

nn::VitConfig tiny_config() {
  nn::VitConfig c;
  c.image_height = c.image_width = 8;
  c.channels = 1;
  c.num_classes = 3;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 1;
  c.heads = 2;
  return c;
}

TEST(Vit, ValidateNamesTheKey) {
  EXPECT_NO_THROW(tiny_config().validate());
  struct Case {
    const char* key;
    std::function<void(nn::VitConfig&)> change;
  };
  const std::vector<Case> cases = {
      {"model.heads", [](nn::VitConfig& c) { c.heads = 3; }},  // 3 does not divide 16
      {"model.patch_size", [](nn::VitConfig& c) { c.patch_size = 3; }},
      {"model.patch_size", [](nn::VitConfig& c) { c.image_width = 10; }},
      {"model.patch_size", [](nn::VitConfig& c) { c.patch_size = 0; }},
      {"model.dim", [](nn::VitConfig& c) { c.dim = 0; }},
      {"model.depth", [](nn::VitConfig& c) { c.depth = -1; }},
      {"model.heads", [](nn::VitConfig& c) { c.heads = 0; }},
      {"model.image_height", [](nn::VitConfig& c) { c.image_height = 0; }},
      {"model.image_width", [](nn::VitConfig& c) { c.image_width = -4; }},
      {"model.channels", [](nn::VitConfig& c) { c.channels = 0; }},
      {"model.num_classes", [](nn::VitConfig& c) { c.num_classes = 0; }},
      {"model.mlp_ratio", [](nn::VitConfig& c) { c.mlp_ratio = 0; }},
      {"model.dropout", [](nn::VitConfig& c) { c.dropout = 1.f; }},
      {"model.attention_dropout", [](nn::VitConfig& c) { c.attention_dropout = -0.1f; }},
      {"model.drop_path", [](nn::VitConfig& c) { c.drop_path = 1.5f; }},
      {"model.layer_norm_eps", [](nn::VitConfig& c) { c.layer_norm_eps = 0.f; }},
  };
  for (const Case& k : cases) {
    nn::VitConfig c = tiny_config();
    k.change(c);
    EXPECT_CONTAINS(error_of([&] { c.validate(); }), k.key);
    // The constructor validates before building anything.
    EXPECT_CONTAINS(error_of([&] { nn::VisionTransformer m(c, 0); }), k.key);
  }
  nn::VitConfig c = tiny_config();
  c.heads = 3;
  EXPECT_EQ(error_of([&] { c.validate(); }), "model.heads: 3 heads do not divide model.dim = 16");
  c = tiny_config();
  c.patch_size = 3;
  EXPECT_EQ(error_of([&] { c.validate(); }), "model.patch_size: 3 does not divide the image size 8x8");
}

// ---------------------------------------------------------------- forward

TEST(Vit, ForwardShapesAndAttentionMaps) {
  nn::VitConfig c = tiny_config();
  c.image_height = 8;
  c.image_width = 12;  // 2 x 3 patches
  c.channels = 2;
  c.depth = 2;
  nn::VisionTransformer model(c, 7);
  EXPECT_EQ(c.num_patches(), 6);
  Rng rng(3);
  const Tensor images = Tensor::randn({5, 2, 8, 12}, rng);
  nn::AttentionRecorder maps;
  const Var logits = model.forward(Var(images), &maps);
  EXPECT_EQ(logits.shape(), (Shape{5, 3}));
  ASSERT_EQ(maps.layers.size(), 2u);
  for (const auto& capture : maps.layers) {
    const Tensor& m = capture->probabilities;
    ASSERT_EQ(m.shape(), (Shape{5, 2, 7, 7}));  // [B, heads, patches + 1, patches + 1]
    const std::vector<float> v = m.to_vector();
    for (size_t row = 0; row < v.size() / 7; ++row) {
      double s = 0;
      for (size_t j = 0; j < 7; ++j) s += v[row * 7 + j];
      EXPECT_NEAR(s, 1.0, 1e-5);
    }
  }
  // The same logits, bit for bit, without the maps: capturing does not change the path.
  const std::vector<float> a = logits.value().to_vector();
  EXPECT_EQ(model.forward(Var(images)).value().to_vector(), a);
  // Batch rows are independent.
  const std::vector<float> one = model.forward(Var(images.slice(0, 2, 3).contiguous())).value().to_vector();
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(one[i], a[2 * 3 + i], 1e-5);
}

TEST(Vit, ForwardRejectsWrongImageShapes) {
  nn::VisionTransformer model(tiny_config(), 0);
  Rng rng(0);
  auto run = [&](const Shape& shape) {
    return error_of([&] { model.forward(Var(Tensor::randn(shape, rng))); });
  };
  EXPECT_EQ(run({2, 3, 8, 8}), "VisionTransformer: images f32[2, 3, 8, 8] must be [B, 1, 8, 8]");
  EXPECT_EQ(run({2, 1, 8, 4}), "VisionTransformer: images f32[2, 1, 8, 4] must be [B, 1, 8, 8]");
  EXPECT_EQ(run({2, 1, 12, 8}), "VisionTransformer: images f32[2, 1, 12, 8] must be [B, 1, 8, 8]");
  EXPECT_EQ(run({1, 8, 8}), "VisionTransformer: images f32[1, 8, 8] must be [B, 1, 8, 8]");
  EXPECT_EQ(run({8, 8}), "VisionTransformer: images f32[8, 8] must be [B, 1, 8, 8]");
}

TEST(Vit, LoadStateDictErrorsNameTheParameter) {
  nn::VisionTransformer model(tiny_config(), 0);
  std::map<std::string, Tensor> state;
  for (auto& [name, t] : model.state_dict()) state[name] = t.clone();
  state["pos_embed"] = Tensor::zeros({1, 9, 16});
  EXPECT_CONTAINS(error_of([&] { model.load_state_dict(state); }), "'pos_embed'");
  state.erase("pos_embed");
  EXPECT_CONTAINS(error_of([&] { model.load_state_dict(state); }), "missing parameter 'pos_embed'");
}

// ---------------------------------------------------------------- gradients

// A ViT small enough for central differences: 1x4x4 images, patch 2 (4 patches), dim 8, 2 heads,
// depth 2, with non-trivial biases and LayerNorm affines so every path carries gradient.
nn::VitConfig grad_config() {
  nn::VitConfig c;
  c.image_height = c.image_width = 4;
  c.channels = 1;
  c.num_classes = 3;
  c.patch_size = 2;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.mlp_ratio = 2.0;
  return c;
}

void randomise(nn::VisionTransformer& model, uint64_t seed) {
  Rng rng(seed);
  for (auto& [name, var] : model.named_parameters()) {
    Tensor& v = var->value();
    const bool norm_weight = name.find("norm") != std::string::npos && name.find(".weight") != std::string::npos;
    Tensor r = Tensor::randn(v.shape(), rng, norm_weight ? 0.2f : 0.5f);
    if (norm_weight)
      for (float& x : r.f32_span()) x += 1.f;
    v.copy_(r);
  }
}

TEST(Vit, GradientsWrtImagesAndPositionEmbedding) {
  nn::VisionTransformer model(grad_config(), 1);
  randomise(model, 11);
  model.eval();  // no dropout anyway; eval makes that explicit
  Rng rng(5);
  const Tensor images = Tensor::randn({2, 1, 4, 4}, rng);
  testing::GradCheckOptions o;
  o.eps = 1e-2;  // fp32 forward: a larger step keeps the rounding noise of the quotient small
  EXPECT_EQ(testing::check_gradients([&](const std::vector<Var>& v) { return model.forward(v[0]); },
                                     {images}, {true}, o),
            "");
  // pos_embed as an input: the wrapper swaps it into the model for each evaluation.
  const Var original = model.pos_embed;
  EXPECT_EQ(testing::check_gradients(
                [&](const std::vector<Var>& v) {
                  model.pos_embed = v[1];
                  Var out = model.forward(v[0]);
                  model.pos_embed = original;
                  return out;
                },
                {images, original.value().clone()}, {true, true}, o),
            "");
  // And the class token and the patch projection, the other ViT-specific parameters.
  const Var cls = model.cls_token, patch_w = model.patch_weight;
  EXPECT_EQ(testing::check_gradients(
                [&](const std::vector<Var>& v) {
                  model.cls_token = v[1];
                  model.patch_weight = v[2];
                  Var out = model.forward(v[0]);
                  model.cls_token = cls;
                  model.patch_weight = patch_w;
                  return out;
                },
                {images, cls.value().clone(), patch_w.value().clone()}, {false, true, true}, o),
            "");
}

TEST(Vit, ParameterCountFromTheConfigMatchesTheModel) {
  nn::VitConfig c;
  c.image_height = 12;
  c.image_width = 8;
  c.channels = 3;
  c.patch_size = 4;
  c.dim = 24;
  c.depth = 3;
  c.heads = 3;
  c.mlp_ratio = 1.5;
  c.num_classes = 7;
  nn::VisionTransformer model(c, 1);
  EXPECT_EQ(c.parameter_count(), model.parameter_count());
}

}  // namespace
}  // namespace heed
