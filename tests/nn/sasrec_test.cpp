// SASRec against the PyTorch reference of tools/sasrec.py (same parameter names): the scores at
// each row's last position, the BCE (next, negative) scores, and every parameter's gradient of
// the full cross-entropy over the positions with a next item (through linear_cross_entropy, as
// training computes it), on right-padded sequences of different lengths.
#include "heed/nn/models/sasrec.h"

#include <gtest/gtest.h>

#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed::nn {
namespace {

SasRecConfig golden_config(const std::string& loss) {
  SasRecConfig c;
  c.items = 20;
  c.max_len = 8;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.mlp_ratio = 1.0;
  c.dropout = 0.f;
  c.loss = loss;
  return c;
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

void load(Module& model, const io::SafetensorsFile& f) {
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : f.tensors)
    if (name.rfind("golden.", 0) != 0) state[name] = t;
  model.load_state_dict(state);
}

// Tolerance 2e-6 absolute: measured worst errors on Zen 5, scores 6.0e-7 and BCE scores 4.8e-7 (values of
// order 5), gradients 1.9e-7 (item_embed.weight, where the embedding and the output layer add).
TEST(SasRecGolden, ScoresLossAndGradientsMatchPyTorch) {
  const io::SafetensorsFile f = io::read_safetensors(std::string(HEED_GOLDEN_DIR) + "/sasrec/sasrec.safetensors");
  SasRec model(golden_config("ce"), 0);
  load(model, f);
  model.eval();
  Batch eval;
  eval.tensors = {{"items", f.get("golden.items")}, {"lengths", f.get("golden.lengths")}};
  {
    NoGradGuard no_grad;
    const std::vector<float> got = model.forward(eval).logits.value().to_vector(),
                             want = f.get("golden.scores").to_vector();
    test::report_errors("scores", got, want);
    EXPECT_TRUE(test::all_close(got, want, 2e-6, 1e-6));
  }
  Batch train = eval;
  train.tensors["next_items"] = f.get("golden.next_items");
  const ModelOutput out = model.forward(train);
  ASSERT_TRUE(out.output_weight.defined());
  const Tensor next = f.get("golden.next_items");
  linear_cross_entropy(out.logits, out.output_weight, take(next, nonzero_positions(next))).backward();
  int compared = 0;
  for (const auto& [name, var] : model.named_parameters()) {
    const std::vector<float> g = var->grad().to_vector(), w = f.get("golden.grad." + name).to_vector();
    test::report_errors("grad " + name, g, w);
    EXPECT_TRUE(test::all_close(g, w, 2e-6, 1e-6)) << "gradient of " << name;
    ++compared;
  }
  EXPECT_EQ(compared, 2 + 2 * 12 + 2);  // embeddings, 12 tensors per block, the final norm
  SasRec bce(golden_config("bce"), 0);
  load(bce, f);
  bce.eval();
  train.tensors["negatives"] = f.get("golden.negatives");
  NoGradGuard no_grad;
  const std::vector<float> got = bce.forward(train).logits.value().to_vector(),
                           want = f.get("golden.bce_logits").to_vector();
  test::report_errors("bce logits", got, want);
  EXPECT_TRUE(test::all_close(got, want, 2e-6, 1e-6));
}

TEST(SasRecModel, ParameterCountFromTheConfig) {
  const SasRecConfig c = golden_config("ce");
  EXPECT_EQ(SasRec(c, 1).parameter_count(), c.parameter_count());
}

TEST(SasRecModel, BadInputsAreNamed) {
  SasRec model(golden_config("ce"), 1);
  Batch b;
  b.tensors = {{"items", Tensor::from_indices({1, 3}, {1, 21, 0})}, {"lengths", Tensor::from_indices({1}, {2})}};
  EXPECT_CONTAINS(error_of([&] { model.forward(b); }), "item id 21 outside 0..20");
  b.tensors["items"] = Tensor::zeros({1, 9}, DType::I64);
  EXPECT_CONTAINS(error_of([&] { model.forward(b); }), "model.max_len");
  SasRecConfig bad = golden_config("ce");
  bad.loss = "mse";
  EXPECT_CONTAINS(error_of([&] { bad.validate(); }), "model.loss");
}

}  // namespace
}  // namespace heed::nn
