// The text encoders against the PyTorch reference of tools/text_encoder.py (same parameter
// names): a classifier with [CLS] pooling and pre-norm blocks, one with mean pooling and
// post-norm blocks, and the masked LM, on right-padded batches; logits and every parameter's
// gradient of the cross-entropy.
#include "heed/nn/models/text_encoder.h"

#include <gtest/gtest.h>

#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed::nn {
namespace {

io::SafetensorsFile golden(const std::string& name) {
  return io::read_safetensors(std::string(HEED_GOLDEN_DIR) + "/text/" + name + ".safetensors");
}

TextEncoderConfig golden_config() {
  TextEncoderConfig c;
  c.vocab_size = 40;
  c.max_len = 12;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.mlp_ratio = 2.0;
  c.dropout = 0.f;
  c.num_classes = 3;
  return c;
}

// Loads the file's parameters (everything not golden.*) into `model`, strictly.
void load(Module& model, const io::SafetensorsFile& f) {
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : f.tensors)
    if (name.rfind("golden.", 0) != 0) state[name] = t;
  model.load_state_dict(state);
}

// Logits and gradients of cross_entropy(logits, targets) against the file's.
// Tolerances, absolute, 2.5x the worst measured over every SIMD target and the -O1 sanitizer
// build: classifier logits 8.3e-7, masked-LM logits 2.4e-6 (a 40-way decoder over values of
// order 3); gradients 7.8e-7 (tok_embed.weight, where the tied decoder's and the embedding's
// gradients add).
struct Tolerance {
  double logits, grads;
};

void expect_matches(Model& model, const Batch& batch, const Tensor& targets, const io::SafetensorsFile& f,
                    const std::string& what, Tolerance tol) {
  model.eval();
  const ModelOutput out = model.forward(batch);
  const std::vector<float> logits = out.logits.value().to_vector(), want = f.get("golden.logits").to_vector();
  test::report_errors(what + " logits", logits, want);
  EXPECT_TRUE(test::all_close(logits, want, tol.logits, 1e-6)) << what << " logits";
  cross_entropy(out.logits, targets).backward();
  int compared = 0;
  for (const auto& [name, var] : model.named_parameters()) {
    const std::vector<float> g = var->grad().to_vector(), w = f.get("golden.grad." + name).to_vector();
    test::report_errors(what + " grad " + name, g, w);
    EXPECT_TRUE(test::all_close(g, w, tol.grads, 1e-6)) << what << ": gradient of " << name;
    ++compared;
  }
  EXPECT_GT(compared, 20);
}

TEST(TextEncoderGolden, ClassifierMatchesPyTorch) {
  for (const char* name : {"text_classifier_cls_pre", "text_classifier_mean_post"}) {
    const io::SafetensorsFile f = golden(name);
    TextEncoderConfig c = golden_config();
    c.pooling = f.metadata.at("pooling");
    c.pre_norm = f.metadata.at("norm") == "pre";
    TextClassifier model(c, 0);
    load(model, f);
    Batch batch;
    batch.tensors = {{"tokens", f.get("golden.tokens")}, {"lengths", f.get("golden.lengths")}};
    expect_matches(model, batch, f.get("golden.labels"), f, name, {2.1e-6, 2e-6});
  }
}

// Windows of long texts (data.max_windows): tokens [B, W, T], lengths [B, W] with a missing
// window; logits and every gradient against tools/text_encoder.py's over_windows.
TEST(TextEncoderGolden, WindowedClassifierMatchesPyTorch) {
  for (const char* name : {"text_classifier_windows_cls", "text_classifier_windows_mean"}) {
    const io::SafetensorsFile f = golden(name);
    TextEncoderConfig c = golden_config();
    c.pooling = f.metadata.at("pooling");
    TextClassifier model(c, 0);
    load(model, f);
    Batch batch;
    batch.tensors = {{"tokens", f.get("golden.tokens")}, {"lengths", f.get("golden.lengths")}};
    ASSERT_EQ(batch.at("tokens").dim(), 3);
    expect_matches(model, batch, f.get("golden.labels"), f, name, {2.1e-6, 2e-6});
  }
}

TEST(TextEncoderGolden, MaskedLmMatchesPyTorch) {
  const io::SafetensorsFile f = golden("text_mlm");
  MaskedLanguageModel model(golden_config(), 0);
  load(model, f);
  Batch batch;
  batch.tensors = {{"tokens", f.get("golden.tokens")}, {"lengths", f.get("golden.lengths")},
                   {"mlm_labels", f.get("golden.mlm_labels")}};
  std::vector<int64_t> targets;
  const Tensor& labels = f.get("golden.mlm_labels");
  for (int64_t i = 0; i < labels.numel(); ++i)
    if (labels.i64()[i] != -100) targets.push_back(labels.i64()[i]);
  expect_matches(model, batch, Tensor::from_indices({int64_t(targets.size())}, targets), f, "text_mlm",
                 {6e-6, 2e-6});
}

TEST(TextEncoder, ParameterNamesAreSharedByClassifierAndMlm) {
  // An MLM encoder loads into a classifier by name: the trunk's names are the same.
  TextClassifier classifier(golden_config(), 1);
  MaskedLanguageModel mlm(golden_config(), 1);
  std::vector<std::string> a, b;
  for (auto& [name, v] : classifier.named_parameters())
    if (name.rfind("head.", 0) != 0) a.push_back(name);
  for (auto& [name, v] : mlm.named_parameters())
    if (name.rfind("mlm.", 0) != 0) b.push_back(name);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.front(), "tok_embed.weight");
  EXPECT_EQ(a[1], "pos_embed");
  EXPECT_EQ(a.back(), "norm.bias");
}

TEST(TextEncoder, PaddingDoesNotChangeTheRealTokens) {
  // The same sequence alone and padded inside a longer batch: the same logits (keys past the
  // length are masked; mean pooling stops at the length).
  for (const char* pooling : {"cls", "mean"}) {
    TextEncoderConfig c = golden_config();
    c.pooling = pooling;
    TextClassifier model(c, 3);
    model.eval();
    NoGradGuard no_grad;
    Batch alone, padded;
    alone.tensors = {{"tokens", Tensor::from_indices({1, 4}, {2, 7, 9, 11})}, {"lengths", Tensor::from_indices({1}, {4})}};
    padded.tensors = {{"tokens", Tensor::from_indices({2, 6}, {2, 7, 9, 11, 0, 0, 2, 5, 6, 7, 8, 9})},
                      {"lengths", Tensor::from_indices({2}, {4, 6})}};
    const std::vector<float> a = model.forward(alone).logits.value().to_vector();
    const std::vector<float> p = model.forward(padded).logits.value().to_vector();
    EXPECT_TRUE(test::all_close(std::vector<float>(p.begin(), p.begin() + 3), a, 1e-6, 1e-6)) << pooling;
  }
}

TEST(TextEncoder, WindowsAreAveragedAfterTheHead) {
  // A record given as windows: its logits are the mean of each window's logits alone (the head
  // is affine, so averaging the pooled windows before it is averaging their logits after it).
  // Record 0 has 3 windows, record 1 has 1 (its missing windows: length 0, padding only).
  for (const char* pooling : {"cls", "mean"}) {
    TextEncoderConfig c = golden_config();
    c.pooling = pooling;
    TextClassifier model(c, 5);
    model.eval();
    NoGradGuard no_grad;
    const std::vector<std::vector<int64_t>> windows = {{2, 7, 9, 11}, {2, 5, 6}, {2, 8, 8, 30}, {2, 17, 3, 21}};
    auto alone = [&](const std::vector<int64_t>& w) {
      Batch one;
      one.tensors = {{"tokens", Tensor::from_indices({1, int64_t(w.size())}, w)},
                     {"lengths", Tensor::from_indices({1}, {int64_t(w.size())})}};
      return model.forward(one).logits.value().to_vector();
    };
    std::vector<double> expected0(3, 0.0);
    for (int k = 0; k < 3; ++k) {
      const std::vector<float> l = alone(windows[size_t(k)]);
      for (int j = 0; j < 3; ++j) expected0[size_t(j)] += double(l[size_t(j)]) / 3;
    }
    const std::vector<float> expected1 = alone(windows[3]);
    Batch both;  // [2 records, 3 windows, 4 tokens]
    both.tensors = {{"tokens", Tensor::from_indices({2, 3, 4}, {2, 7, 9, 11, 2, 5, 6, 0, 2, 8, 8, 30,  //
                                                               2, 17, 3, 21, 0, 0, 0, 0, 0, 0, 0, 0})},
                    {"lengths", Tensor::from_indices({2, 3}, {4, 3, 4, 4, 0, 0})}};
    const std::vector<float> got = model.forward(both).logits.value().to_vector();
    ASSERT_EQ(got.size(), 6u);
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(got[size_t(j)], expected0[size_t(j)], 1e-5) << pooling << " class " << j;
      EXPECT_NEAR(got[size_t(3 + j)], expected1[size_t(j)], 1e-5) << pooling << " class " << j;
    }
    Batch bad = both;
    bad.tensors["lengths"] = Tensor::from_indices({2}, {4, 4});
    EXPECT_CONTAINS(test::error_message([&] { model.forward(bad); }), "lengths of windowed tokens must be i64 [2, 3]");
  }
}

TEST(TextEncoder, BadInputsAreNamed) {
  TextClassifier model(golden_config(), 1);
  Batch batch;
  batch.tensors = {{"tokens", Tensor::zeros({1, 13}, DType::I64)}, {"lengths", Tensor::from_indices({1}, {13})}};
  try {
    model.forward(batch);
    FAIL() << "13 tokens with max_len 12 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.max_len = 12"), std::string::npos) << e.what();
  }
  TextEncoderConfig c = golden_config();
  c.heads = 3;
  EXPECT_THROW(TextClassifier(c, 1), Error);
}

TEST(TextEncoder, ParameterCountFromTheConfigMatchesTheModel) {
  // The memory check before building (train/resources.h) relies on it; mlp_ratio 2.5 makes
  // the hidden width 40 (not a multiple of 16) and max_len / vocab_size odd.
  nn::TextEncoderConfig c;
  c.vocab_size = 101;
  c.max_len = 17;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.mlp_ratio = 2.5;
  c.num_classes = 3;
  nn::TextClassifier classifier(c, 1);
  EXPECT_EQ(c.parameter_count(true), classifier.parameter_count());
  nn::MaskedLanguageModel mlm(c, 1);
  EXPECT_EQ(c.parameter_count(false), mlm.parameter_count());
}

}  // namespace
}  // namespace heed::nn
