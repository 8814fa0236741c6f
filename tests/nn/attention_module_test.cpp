// MultiHeadAttention against PyTorch's nn.MultiheadAttention (weights mapped 1:1 by name), and
// the attention functions against PyTorch's composed form; golden files made by
// tools/make_golden_attention.py.
#include "heed/nn/attention.h"

#include <gtest/gtest.h>

#include <cmath>

#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed {
namespace {

// Measured worst over every SIMD target and the -O1 sanitizer build: 1.19e-6 absolute
// (nn.MultiheadAttention's out_proj.weight gradient), 4.8e-7 for the composed-form cases.
constexpr double kAtol = 3e-6, kRtol = 1e-6;

io::SafetensorsFile golden(const std::string& name) {
  return io::read_safetensors(std::string(HEED_GOLDEN_DIR) + "/attention/" + name + ".safetensors");
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  test::report_errors(what, g, w);
  EXPECT_TRUE(test::all_close(g, w, kAtol, kRtol)) << what << " against PyTorch";
}

class MhaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(MhaGolden, MatchesPyTorchMultiheadAttention) {
  const io::SafetensorsFile f = golden(GetParam());
  const bool cross = f.metadata.at("cross") == "1";
  const Tensor& w = f.get("in_proj_weight");
  Rng rng(0);
  nn::MultiHeadAttention mha(w.size(1), std::stoll(f.metadata.at("heads")), {}, rng);
  std::map<std::string, Tensor> state;
  for (const char* name : {"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"})
    state[name] = f.get(name);
  mha.load_state_dict(state);
  nn::AttentionMasks masks;
  masks.key_lengths = f.get("key_lengths");
  masks.causal = f.metadata.at("causal") == "1";

  Tensor plain_out;
  for (bool with_weights : {false, true}) {  // without, then with the attention captured
    for (auto& [name, p] : mha.named_parameters()) p->zero_grad();
    auto capture = with_weights ? std::make_shared<AttentionCapture>() : nullptr;
    Var x, queries, memory, out;
    if (cross) {
      queries = Var(f.get("queries"), true);
      memory = Var(f.get("memory"), true);
      out = mha.forward_cross(queries, memory, masks, capture);
    } else {
      x = Var(f.get("x"), true);
      out = mha.forward(x, masks, capture);
    }
    const std::string path = with_weights ? " (attention captured)" : "";
    expect_close(out.value(), f.get("out"), "output" + path);
    if (with_weights) {
      expect_close(capture->probabilities, f.get("weights"), "attention weights");
      // Capturing reads the forward's results; it must not change them by a single bit.
      EXPECT_EQ(out.value().to_vector(), plain_out.to_vector());
    } else {
      plain_out = out.value().clone();
    }
    out.backward(f.get("proj"));
    if (cross) {
      expect_close(queries.grad(), f.get("grad.queries"), "grad.queries" + path);
      expect_close(memory.grad(), f.get("grad.memory"), "grad.memory" + path);
    } else {
      expect_close(x.grad(), f.get("grad.x"), "grad.x" + path);
    }
    for (auto& [name, p] : mha.named_parameters())
      expect_close(p->grad(), f.get("grad." + name), "grad." + name + path);
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, MhaGolden,
                         ::testing::Values("mha_self_padding_causal", "mha_self_padding",
                                           "mha_cross_padding"));

TEST(AttentionGolden, FusedAndReferenceMatchPyTorchComposition) {
  // Every mask option against PyTorch's composed form, whose window, padding, additive and
  // boolean masks tools/make_golden_attention.py builds from their definitions.
  for (const char* name : {"sdpa_causal", "sdpa_cross", "sdpa_window", "sdpa_window_causal",
                           "sdpa_window_cross", "sdpa_additive", "sdpa_boolean_padding",
                           "sdpa_boolean_causal"}) {
    const io::SafetensorsFile f = golden(name);
    AttentionOptions o;
    o.causal = f.metadata.at("causal") == "1";
    o.window = std::stoll(f.metadata.at("window"));
    if (f.contains("mask")) o.mask = f.get("mask");
    if (f.contains("key_lengths")) o.key_lengths = f.get("key_lengths");
    for (bool fused : {true, false}) {
      Var q(f.get("q"), true), k(f.get("k"), true), v(f.get("v"), true);
      Var out = fused ? attention_fused(q, k, v, o) : attention_reference(q, k, v, o);
      const std::string what = std::string(name) + (fused ? " fused " : " reference ");
      expect_close(out.value(), f.get("out"), what + "out");
      out.backward(f.get("proj"));
      expect_close(q.grad(), f.get("grad.q"), what + "dq");
      expect_close(k.grad(), f.get("grad.k"), what + "dk");
      expect_close(v.grad(), f.get("grad.v"), what + "dv");
    }
  }
}

TEST(MultiHeadAttention, ParameterNamesMapToPyTorchAndTimm) {
  Rng rng(1);
  nn::MultiHeadAttention torch_style(32, 4, {}, rng);
  std::vector<std::string> names;
  for (auto& [n, p] : torch_style.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                             "out_proj.bias"}));
  nn::MultiHeadAttentionOptions timm;
  timm.naming = nn::MultiHeadAttentionOptions::Naming::Timm;
  nn::MultiHeadAttention timm_style(32, 4, timm, rng);
  names.clear();
  for (auto& [n, p] : timm_style.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"}));
  EXPECT_THROW(nn::MultiHeadAttention(30, 4, {}, rng), Error);  // 4 heads do not divide 30
}

TEST(MultiHeadAttention, LoadStateDictNamesTheProblem) {
  Rng rng(1);
  nn::MultiHeadAttention mha(8, 2, {}, rng);
  std::map<std::string, Tensor> state;
  for (auto& [n, t] : mha.state_dict()) state[n] = t;
  state["out_proj.weight"] = Tensor::zeros({8, 4});
  try {
    mha.load_state_dict(state);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out_proj.weight"), std::string::npos) << e.what();
  }
  state.erase("out_proj.weight");
  EXPECT_THROW(mha.load_state_dict(state), Error);
}

}  // namespace
}  // namespace heed
