// Optimisers, LR schedules and gradient clipping. The optimiser, clip and schedule golden files
// (tests/golden/optim/) come from torch.optim / torch.nn.utils via tools/make_golden_optim.py;
// warmup, skipping and errors are checked against closed forms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/io/safetensors.h"
#include "heed/kernels/simd.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"
#include "heed/optim/schedule.h"
#include "heed/optim/sgd.h"

#ifndef HEED_GOLDEN_DIR
#define HEED_GOLDEN_DIR "tests/golden"
#endif

namespace heed::optim {
namespace {

// Both sides compute in float with torch's operation order, and on FMA machines with its
// rounding too (bit-identical there). Without FMA (or when a compiler contracts differently) the
// results drift by a few ulp of the terms involved; where an element is a small difference of
// larger terms (a momentum buffer of alternating gradients) that is far more than an ulp of the
// element itself. So the tolerance is 1e-6 relative to the tensor's largest magnitude.
constexpr double kRtol = 1e-6;

io::SafetensorsFile golden(const std::string& name) {
  return io::read_safetensors(HEED_GOLDEN_DIR "/optim/" + name + ".safetensors");
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  double scale = 0;
  for (float x : w) scale = std::max(scale, std::abs(double(x)));
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_NEAR(g[i], w[i], kRtol * scale) << what << " element " << i;
}

void expect_identical(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(float)), 0) << what;
}

// The SIMD targets whose optimiser kernels round like PyTorch's AVX2 kernels (one FMA rounding;
// kernels/optimizer_update.h): there the results must be the same bits as torch.optim's.
bool target_has_fma() {
  const std::string t = kernels::simd::chosen_target();
  return t == "AVX2" || t == "AVX3" || t == "AVX3_DL";
}

// Bit-identical to PyTorch on FMA targets (as the README says), within kRtol elsewhere.
void expect_matches_torch(const Tensor& got, const Tensor& want, const std::string& what) {
  if (target_has_fma())
    expect_identical(got, want, what + " (bit-identical on " + kernels::simd::chosen_target() + ")");
  else
    expect_close(got, want, what);
}

// The message of the heed::Error that `fn` throws ("" and a failure if none).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error thrown";
  return "";
}

#define EXPECT_ERROR_CONTAINS(statement, text)                                    \
  do {                                                                            \
    const std::string message_ = error_of([&] { statement; });                    \
    EXPECT_NE(message_.find(text), std::string::npos) << "message: " << message_; \
  } while (0)

// The golden files' two parameters: a decayed [4, 3] matrix and an undecayed [3] bias.
struct TwoParams {
  Var weight, bias;

  TwoParams(const Tensor& w, const Tensor& b) : weight(w.clone(), true), bias(b.clone(), true) {}
  std::vector<Param> params() { return {{"weight", &weight, true}, {"bias", &bias, false}}; }
  void set_grads(const Tensor& gw, const Tensor& gb) {
    weight.grad() = gw.clone();
    bias.grad() = gb.clone();
  }
};

// Row k of a [steps, ...] history tensor.
Tensor row(const Tensor& t, int64_t k) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  return t.slice(0, k, k + 1).contiguous().reshape(shape);
}

float meta_float(const io::SafetensorsFile& f, const char* key) {
  return std::stof(f.metadata.at(key));
}

double meta_double(const io::SafetensorsFile& f, const char* key) {
  return std::stod(f.metadata.at(key));
}

std::unique_ptr<Optimizer> make_optimizer(const io::SafetensorsFile& f, std::vector<Param> p) {
  if (f.metadata.at("optimizer") == "adamw")
    return std::make_unique<AdamW>(
        std::move(p),
        AdamWOptions{meta_float(f, "lr"), meta_double(f, "beta1"), meta_double(f, "beta2"),
                     meta_double(f, "eps"), meta_double(f, "weight_decay")});
  return std::make_unique<Sgd>(
      std::move(p), SgdOptions{meta_float(f, "lr"), meta_float(f, "momentum"),
                               meta_float(f, "weight_decay"), f.metadata.at("nesterov") == "1"});
}

// The live state tensor `name` of `opt`.
Tensor state_entry(const Optimizer& opt, const std::string& name) {
  for (const auto& [key, tensor] : opt.state())
    if (key == name) return tensor;
  ADD_FAILURE() << "no state entry " << name;
  return Tensor::zeros({});
}

// Runs steps [first, last) of a golden file's gradient sequence.
void run_steps(Optimizer& opt, TwoParams& model, const io::SafetensorsFile& f, int64_t first,
               int64_t last) {
  for (int64_t k = first; k < last; ++k) {
    model.set_grads(row(f.get("grad.weight"), k), row(f.get("grad.bias"), k));
    opt.step();
  }
}

// ---- golden comparisons against torch.optim ----

class OptimizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerGolden, TenStepsMatchPyTorch) {
  const io::SafetensorsFile f = golden(GetParam());
  const int64_t steps = std::stoll(f.metadata.at("steps"));
  TwoParams model(f.get("init.weight"), f.get("init.bias"));
  std::unique_ptr<Optimizer> opt = make_optimizer(f, model.params());
  for (int64_t k = 0; k < steps; ++k) {
    run_steps(*opt, model, f, k, k + 1);
    const std::string at = " after step " + std::to_string(k + 1);
    expect_matches_torch(model.weight.value(), row(f.get("param.weight"), k), "weight" + at);
    expect_matches_torch(model.bias.value(), row(f.get("param.bias"), k), "bias" + at);
  }
  EXPECT_EQ(opt->step_count(), steps);
  int compared = 0;
  for (const auto& [name, tensor] : opt->state()) {
    if (name == "step") {
      EXPECT_EQ(tensor.dtype(), DType::I64);
      EXPECT_EQ(*tensor.i64(), steps);
      continue;
    }
    ASSERT_TRUE(f.contains(name)) << name;
    if (tensor.dtype() == DType::I64)
      EXPECT_EQ(*tensor.i64(), *f.get(name).i64()) << name;
    else
      expect_matches_torch(tensor, f.get(name), "final state " + name);
    ++compared;
  }
  EXPECT_EQ(compared, f.metadata.at("optimizer") == "adamw" ? 6 : 2);
}

// Save after 5 steps (through the safetensors bytes), restore into a fresh optimiser over fresh
// parameters, run 5 more: the result is bit-identical to 10 uninterrupted steps.
TEST_P(OptimizerGolden, StateRoundTripContinuesBitIdentically) {
  const io::SafetensorsFile f = golden(GetParam());
  TwoParams straight(f.get("init.weight"), f.get("init.bias"));
  std::unique_ptr<Optimizer> opt = make_optimizer(f, straight.params());
  run_steps(*opt, straight, f, 0, 10);

  TwoParams first(f.get("init.weight"), f.get("init.bias"));
  std::unique_ptr<Optimizer> before = make_optimizer(f, first.params());
  run_steps(*before, first, f, 0, 5);
  const io::SafetensorsFile saved =
      io::parse_safetensors(io::serialize_safetensors(before->state(), {}), "optim state");

  TwoParams resumed(first.weight.value(), first.bias.value());
  std::unique_ptr<Optimizer> after = make_optimizer(f, resumed.params());
  after->load_state({saved.tensors.begin(), saved.tensors.end()});
  EXPECT_EQ(after->step_count(), 5);
  run_steps(*after, resumed, f, 5, 10);

  expect_identical(resumed.weight.value(), straight.weight.value(), "weight");
  expect_identical(resumed.bias.value(), straight.bias.value(), "bias");
  const auto want = opt->state();
  const auto got = after->state();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].first, want[i].first);
    if (got[i].second.dtype() == DType::I64)
      EXPECT_EQ(*got[i].second.i64(), *want[i].second.i64()) << got[i].first;
    else
      expect_identical(got[i].second, want[i].second, got[i].first);
  }
}

INSTANTIATE_TEST_SUITE_P(Optim, OptimizerGolden,
                         ::testing::Values("adamw", "sgd_momentum", "sgd_nesterov"));

// ---- parameters, state layout, skipping ----

TEST(WeightDecayRule, DecaysOnlyWeightMatrices) {
  EXPECT_TRUE(default_weight_decay("blocks.0.attn.qkv.weight", {2304, 768}));
  EXPECT_TRUE(default_weight_decay("patch_embed.proj.weight", {768, 3, 16, 16}));
  EXPECT_FALSE(default_weight_decay("blocks.0.attn.qkv.bias", {2304}));
  EXPECT_FALSE(default_weight_decay("norm.weight", {768}));
  EXPECT_FALSE(default_weight_decay("pos_embed", {1, 197, 768}));
  EXPECT_FALSE(default_weight_decay("encoder.pos_embed", {1, 197, 768}));
  EXPECT_FALSE(default_weight_decay("cls_token", {1, 1, 768}));
  EXPECT_FALSE(default_weight_decay("token_embedding.weight", {1000, 64}));
  EXPECT_FALSE(default_weight_decay("scalar", {}));

  Var w(Tensor::zeros({2, 2}), true), b(Tensor::zeros({2}), true);
  const std::vector<Param> params = make_params({{"fc.weight", &w}, {"fc.bias", &b}});
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].name, "fc.weight");
  EXPECT_EQ(params[0].var, &w);
  EXPECT_TRUE(params[0].weight_decay);
  EXPECT_FALSE(params[1].weight_decay);
}

TEST(OptimizerState, NamesAndOrder) {
  TwoParams model(Tensor::zeros({4, 3}), Tensor::zeros({3}));
  std::vector<std::string> names;
  for (const auto& [name, t] : AdamW(model.params()).state()) names.push_back(name + " " + t.str());
  EXPECT_EQ(names, (std::vector<std::string>{"step i64[]", "exp_avg.weight f32[4, 3]",
                                             "exp_avg.bias f32[3]", "exp_avg_sq.weight f32[4, 3]",
                                             "exp_avg_sq.bias f32[3]", "step.weight i64[]",
                                             "step.bias i64[]"}));
  names.clear();
  for (const auto& [name, t] : Sgd(model.params()).state()) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"step", "momentum_buffer.weight", "momentum_buffer.bias"}));
  names.clear();
  for (const auto& [name, t] : Sgd(model.params(), {.momentum = 0.0f}).state())
    names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"step"}));
}

// A parameter without a gradient is left alone, state included, and AdamW's bias correction
// counts only the updates the parameter received (PyTorch's per-parameter step).
TEST(AdamWSkip, UndefinedGradientSkipsParameterAndItsStep) {
  const float lr = 0.01f;
  const double wd = 0.1;
  Var a(Tensor::from_vector({2}, {1.0f, -2.0f}), true);
  Var b(Tensor::from_vector({2}, {0.5f, 3.0f}), true);
  AdamW opt({{"a", &a, true}, {"b", &b, true}}, {.lr = lr, .weight_decay = wd});

  a.grad() = Tensor::from_vector({2}, {0.3f, -0.2f});
  opt.step();
  EXPECT_EQ(b.value().to_vector(), (std::vector<float>{0.5f, 3.0f}));
  const Tensor step_a = state_entry(opt, "step.a"), step_b = state_entry(opt, "step.b");
  EXPECT_EQ(state_entry(opt, "exp_avg.b").to_vector(), (std::vector<float>{0.0f, 0.0f}));
  EXPECT_EQ(*step_a.i64(), 1);
  EXPECT_EQ(*step_b.i64(), 0);

  // b's first update after a skipped step: m_hat = g and sqrt(v_hat) = |g|, so
  // p <- p (1 - lr wd) - lr g / (|g| + eps).
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  const std::vector<float> g{0.25f, -4.0f};
  b.grad() = Tensor::from_vector({2}, g);
  opt.step();
  const std::vector<float> got = b.value().to_vector();
  const std::vector<float> p0{0.5f, 3.0f};
  for (size_t i = 0; i < 2; ++i) {
    const double want = p0[i] * (1 - lr * wd) - lr * g[i] / (std::abs(g[i]) + 1e-8);
    EXPECT_NEAR(got[i], want, 1e-6 * std::abs(want)) << i;
  }
  EXPECT_EQ(opt.step_count(), 2);
  EXPECT_EQ(*step_a.i64(), 1);  // state() tensors are live
  EXPECT_EQ(*step_b.i64(), 1);
}

TEST(SgdSkip, UndefinedGradientSkipsParameter) {
  Var a(Tensor::from_vector({2}, {1.0f, -2.0f}), true), b(Tensor::from_vector({1}, {7.0f}), true);
  Sgd opt({{"a", &a, true}, {"b", &b, false}}, {.lr = 0.5f, .momentum = 0.9f});
  a.grad() = Tensor::from_vector({2}, {1.0f, 2.0f});
  opt.step();
  opt.step();  // same gradient again: buffer 1.9 g
  EXPECT_EQ(b.value().to_vector(), (std::vector<float>{7.0f}));
  const std::vector<float> got = a.value().to_vector();
  EXPECT_FLOAT_EQ(got[0], 1.0f - 0.5f * (1.0f + 1.9f * 1.0f));
  EXPECT_FLOAT_EQ(got[1], -2.0f - 0.5f * (2.0f + 1.9f * 2.0f));
  EXPECT_EQ(state_entry(opt, "momentum_buffer.b").to_vector(), (std::vector<float>{0.0f}));
}

TEST(Sgd, PlainStepWithWeightDecayOnDecayParamsOnly) {
  Var w(Tensor::from_vector({2}, {1.0f, -2.0f}), true), b(Tensor::from_vector({1}, {4.0f}), true);
  Sgd opt({{"w", &w, true}, {"b", &b, false}},
          {.lr = 0.5f, .momentum = 0.0f, .weight_decay = 0.1f});
  w.grad() = Tensor::from_vector({2}, {1.0f, 1.0f});
  b.grad() = Tensor::from_vector({1}, {1.0f});
  opt.step();
  const std::vector<float> got = w.value().to_vector();
  EXPECT_FLOAT_EQ(got[0], 1.0f - 0.5f * (1.0f + 0.1f * 1.0f));
  EXPECT_FLOAT_EQ(got[1], -2.0f - 0.5f * (1.0f - 0.1f * 2.0f));
  EXPECT_FLOAT_EQ(b.value().item(), 3.5f);
}

// Element-wise updates: the OpenMP path (large tensors) gives the same bits for any thread count.
TEST(AdamW, LargeTensorSameBitsForAnyThreadCount) {
  const int saved_threads = num_threads();
  Rng rng(7);
  const Tensor init = Tensor::randn({300, 400}, rng), grad = Tensor::randn({300, 400}, rng);
  std::vector<Tensor> results;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Var p(init.clone(), true);
    AdamW opt({{"p", &p, true}});
    for (int k = 0; k < 3; ++k) {
      p.grad() = grad.clone();
      opt.step();
    }
    results.push_back(p.value());
  }
  set_num_threads(saved_threads);
  expect_identical(results[0], results[1], "AdamW, 1 vs 2 threads");
}

// ---- load_state validation ----

class LoadState : public ::testing::Test {
 protected:
  LoadState() : model(Tensor::zeros({4, 3}), Tensor::zeros({3})), opt(model.params()) {
    for (const auto& [name, t] : opt.state()) named[name] = t.clone();
  }
  TwoParams model;
  AdamW opt;
  std::map<std::string, Tensor> named;
};

TEST_F(LoadState, MissingKeyIsNamed) {
  named.erase("exp_avg_sq.bias");
  EXPECT_ERROR_CONTAINS(opt.load_state(named),
                        "AdamW::load_state: missing 'exp_avg_sq.bias' f32[3]");
  named.erase("step");
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "missing 'step' i64[]");
}

TEST_F(LoadState, WrongShapeOrDtypeIsNamed) {
  named["exp_avg.weight"] = Tensor::zeros({3, 4});
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "'exp_avg.weight' is f32[3, 4], expected f32[4, 3]");
  named["exp_avg.weight"] = Tensor::zeros({4, 3});
  named["step"] = Tensor::zeros({});
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "'step' is f32[], expected i64[]");
}

TEST_F(LoadState, UnexpectedKeyIsNamed) {
  named["exp_avg.ghost"] = Tensor::zeros({2});
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "unexpected 'exp_avg.ghost' f32[2]");
}

TEST_F(LoadState, NegativeCounterIsRejected) {
  *named["step.bias"].i64() = -3;
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "counter 'step.bias' is negative");
}

TEST_F(LoadState, NegativeSecondMomentIsRejected) {
  // sqrt of a negative second moment is NaN at the very next step.
  named["exp_avg_sq.weight"].f32()[5] = -1e-8f;
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "'exp_avg_sq.weight' holds -1e-08 at element 5; it must not be negative");
  named["exp_avg_sq.weight"].f32()[5] = 0.f;
  named["exp_avg.weight"].f32()[0] = -1.f;  // first moments may be negative
  EXPECT_NO_THROW(opt.load_state(named));
}

TEST_F(LoadState, NonFiniteStateIsRejected) {
  named["exp_avg.bias"].f32()[1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_ERROR_CONTAINS(opt.load_state(named), "'exp_avg.bias' holds nan at element 1");
}

TEST_F(LoadState, FailedLoadChangesNothing) {
  *named["step"].i64() = 42;
  named["exp_avg.bias"].fill_(5.0f);
  named.erase("exp_avg_sq.weight");
  EXPECT_THROW(opt.load_state(named), Error);
  EXPECT_EQ(opt.step_count(), 0);
  EXPECT_EQ(state_entry(opt, "exp_avg.bias").to_vector(), (std::vector<float>(3, 0.0f)));
}

// ---- option and parameter checks ----

TEST(OptimizerOptions, ErrorsNameTheField) {
  TwoParams m(Tensor::zeros({4, 3}), Tensor::zeros({3}));
  EXPECT_ERROR_CONTAINS(AdamW(m.params(), {.lr = -1.0f}), "AdamW: lr must");
  EXPECT_ERROR_CONTAINS(AdamW(m.params(), {.beta1 = 1.0}), "AdamW: beta1 must");
  EXPECT_ERROR_CONTAINS(AdamW(m.params(), {.beta2 = -0.1}), "AdamW: beta2 must");
  EXPECT_ERROR_CONTAINS(AdamW(m.params(), {.eps = 0.0}), "AdamW: eps must");
  EXPECT_ERROR_CONTAINS(AdamW(m.params(), {.weight_decay = -0.01}), "AdamW: weight_decay must");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_ERROR_CONTAINS(Sgd(m.params(), {.lr = nan}), "SGD: lr must");
  EXPECT_ERROR_CONTAINS(Sgd(m.params(), {.momentum = 1.5f}), "SGD: momentum must");
  EXPECT_ERROR_CONTAINS(Sgd(m.params(), {.weight_decay = -1.0f}), "SGD: weight_decay must");
  EXPECT_ERROR_CONTAINS(Sgd(m.params(), {.momentum = 0.0f, .nesterov = true}),
                        "SGD: nesterov needs momentum > 0");
  AdamW opt(m.params());
  EXPECT_ERROR_CONTAINS(opt.set_lr(std::numeric_limits<float>::infinity()), "AdamW: lr must");
  opt.set_lr(0.5f);
  EXPECT_EQ(opt.lr(), 0.5f);
}

TEST(OptimizerParams, BadParameterListsAreRejected) {
  Var w(Tensor::zeros({2, 2}), true), v(Tensor::zeros({2}), true);
  EXPECT_ERROR_CONTAINS(AdamW({}), "AdamW: the parameter list is empty");
  EXPECT_ERROR_CONTAINS(AdamW({{"w", &w, true}, {"w", &v, false}}),
                        "parameter name 'w' appears twice");
  EXPECT_ERROR_CONTAINS(Sgd({{"", &w, true}}), "SGD: a parameter has an empty name");
  EXPECT_ERROR_CONTAINS(Sgd({{"x", nullptr, true}}), "parameter 'x' has no value");
  Var t(Tensor::zeros({2, 3}).transpose(0, 1), true);
  EXPECT_ERROR_CONTAINS(Sgd({{"t", &t, true}}), "parameter 't' must be a contiguous f32 tensor");
}

TEST(OptimizerParams, GradientShapeMismatchIsNamed) {
  Var w(Tensor::zeros({2, 2}), true);
  Sgd opt({{"w", &w, true}});
  w.grad() = Tensor::zeros({4});
  EXPECT_ERROR_CONTAINS(opt.step(), "SGD: gradient of 'w' is f32[4], the parameter is f32[2, 2]");
  w.value() = Tensor::zeros({3});
  EXPECT_ERROR_CONTAINS(opt.step(), "SGD: parameter 'w' is now f32[3]");
}

TEST(GradsFinite, DetectsNanAndInf) {
  Var a(Tensor::zeros({3}), true), b(Tensor::zeros({100000}), true), c(Tensor::zeros({2}), true);
  const std::vector<Param> params{{"a", &a, true}, {"b", &b, true}, {"c", &c, true}};
  EXPECT_TRUE(grads_finite(params));  // no gradients at all
  a.grad() = Tensor::full({3}, 1e30f);
  b.grad() = Tensor::full({100000}, -2.0f);
  EXPECT_TRUE(grads_finite(params));
  b.grad().f32()[99999] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(grads_finite(params));
  b.grad().f32()[99999] = 0.0f;
  a.grad().f32()[1] = -std::numeric_limits<float>::infinity();
  EXPECT_FALSE(grads_finite(params));
}

// ---- gradient clipping ----

TEST(ClipGradNorm, MatchesPyTorch) {
  const io::SafetensorsFile f = golden("clip");
  TwoParams model(Tensor::zeros({4, 3}), Tensor::zeros({3}));
  model.set_grads(f.get("grad.weight"), f.get("grad.bias"));
  const float norm = clip_grad_norm(model.params(), meta_float(f, "max_norm"));
  EXPECT_NEAR(norm, f.get("total_norm").item(), kRtol * f.get("total_norm").item());
  expect_close(model.weight.grad(), f.get("clipped.weight"), "clipped weight gradient");
  expect_close(model.bias.grad(), f.get("clipped.bias"), "clipped bias gradient");
}

TEST(ClipGradNorm, ClosedForm) {
  Var a(Tensor::zeros({2}), true), b(Tensor::zeros({1}), true), none(Tensor::zeros({5}), true);
  const std::vector<Param> params{{"a", &a, true}, {"none", &none, true}, {"b", &b, false}};
  EXPECT_EQ(clip_grad_norm(params, 1.0f), 0.0f);  // no gradients

  a.grad() = Tensor::from_vector({2}, {3.0f, 4.0f});
  b.grad() = Tensor::from_vector({1}, {12.0f});
  EXPECT_EQ(clip_grad_norm(params, 100.0f), 13.0f);  // below max_norm: untouched
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{3.0f, 4.0f}));

  EXPECT_EQ(clip_grad_norm(params, 6.5f), 13.0f);  // returns the norm before clipping
  const double c = 6.5 / (13.0 + 1e-6);
  const std::vector<float> ga = a.grad().to_vector();
  EXPECT_FLOAT_EQ(ga[0], float(3.0 * c));
  EXPECT_FLOAT_EQ(ga[1], float(4.0 * c));
  EXPECT_FLOAT_EQ(b.grad().item(), float(12.0 * c));
  EXPECT_FALSE(none.grad().defined());
  EXPECT_NEAR(clip_grad_norm(params, 1e9f), 6.5, 1e-5);
}

TEST(ClipGradNorm, NonFiniteNormLeavesGradientsAlone) {
  Var a(Tensor::zeros({2}), true);
  a.grad() = Tensor::from_vector({2}, {1.0f, std::numeric_limits<float>::infinity()});
  EXPECT_TRUE(std::isinf(clip_grad_norm({{"a", &a, true}}, 1.0f)));
  EXPECT_EQ(a.grad().to_vector()[0], 1.0f);
}

TEST(ClipGradNorm, RejectsBadMaxNorm) {
  Var a(Tensor::zeros({2}), true);
  EXPECT_ERROR_CONTAINS(clip_grad_norm({{"a", &a, true}}, 0.0f), "clip_grad_norm: max_norm must");
  EXPECT_ERROR_CONTAINS(clip_grad_norm({{"a", &a, true}}, std::nanf("")), "max_norm must");
}

// ---- learning-rate schedules ----

TEST(Schedule, MatchesPyTorchSchedulersWithoutWarmup) {
  const io::SafetensorsFile f = golden("schedule");
  const int64_t total = std::stoll(f.metadata.at("total_steps"));
  for (const char* kind : {"cosine", "linear"}) {
    const ScheduleOptions o{kind, 0, total, meta_float(f, "base_lr"), meta_float(f, "min_lr")};
    const std::vector<float> want = f.get(kind).to_vector();
    ASSERT_EQ(int64_t(want.size()), total + 1);
    for (int64_t step = 0; step <= total; ++step)
      EXPECT_NEAR(learning_rate(o, step), want[step], kRtol * want[step]) << kind << " " << step;
  }
}

TEST(Schedule, WarmupThenCosine) {
  const ScheduleOptions o{"cosine", 10, 110, 1e-3f, 1e-5f};
  EXPECT_FLOAT_EQ(learning_rate(o, 0), 1e-4f);  // (0 + 1) / 10 of base: the first step moves
  EXPECT_FLOAT_EQ(learning_rate(o, 4), 5e-4f);
  EXPECT_FLOAT_EQ(learning_rate(o, 9), 1e-3f);   // last warmup step reaches base_lr
  EXPECT_FLOAT_EQ(learning_rate(o, 10), 1e-3f);  // decay starts at base_lr
  EXPECT_FLOAT_EQ(learning_rate(o, 35),
                  float(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + std::cos(std::numbers::pi / 4))));
  EXPECT_FLOAT_EQ(learning_rate(o, 60), float((1e-3 + 1e-5) / 2));  // half way
  EXPECT_EQ(learning_rate(o, 110), 1e-5f);                          // min_lr at total_steps
  EXPECT_EQ(learning_rate(o, 5000), 1e-5f);                         // and after
  EXPECT_GT(learning_rate(o, 109), 1e-5f);
}

TEST(Schedule, WarmupThenLinear) {
  const ScheduleOptions o{"linear", 4, 14, 0.5f, 0.1f};
  EXPECT_FLOAT_EQ(learning_rate(o, 0), 0.125f);
  EXPECT_FLOAT_EQ(learning_rate(o, 3), 0.5f);
  EXPECT_FLOAT_EQ(learning_rate(o, 4), 0.5f);
  EXPECT_FLOAT_EQ(learning_rate(o, 9), 0.3f);
  EXPECT_FLOAT_EQ(learning_rate(o, 14), 0.1f);
  EXPECT_FLOAT_EQ(learning_rate(o, 20), 0.1f);
}

TEST(Schedule, ConstantAndAllWarmup) {
  const ScheduleOptions constant{"constant", 2, 10, 0.5f, 0.0f};
  EXPECT_FLOAT_EQ(learning_rate(constant, 0), 0.25f);
  EXPECT_EQ(learning_rate(constant, 2), 0.5f);
  EXPECT_EQ(learning_rate(constant, 100), 0.5f);
  const ScheduleOptions warmup_only{"cosine", 4, 4, 1.0f, 0.25f};
  EXPECT_FLOAT_EQ(learning_rate(warmup_only, 3), 1.0f);
  EXPECT_EQ(learning_rate(warmup_only, 4), 0.25f);
  const ScheduleOptions no_warmup{"cosine", 0, 8, 1.0f, 0.0f};
  EXPECT_EQ(learning_rate(no_warmup, 0), 1.0f);
}

TEST(Schedule, ErrorsNameTheField) {
  const ScheduleOptions good{"cosine", 10, 100, 1e-3f, 0.0f};
  EXPECT_NO_THROW(validate(good));
  auto with = [&](auto change) {
    ScheduleOptions o = good;
    change(o);
    return o;
  };
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.kind = "cosnie"; }), 0),
                        "schedule: kind must be cosine, linear or constant, got 'cosnie'");
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.total_steps = 0; }), 0),
                        "schedule: total_steps must be > 0");
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.warmup_steps = -1; }), 0),
                        "schedule: warmup_steps must");
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.warmup_steps = 101; }), 0),
                        "schedule: warmup_steps must be in [0, total_steps = 100], got 101");
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.base_lr = 0.0f; }), 0),
                        "schedule: base_lr must");
  EXPECT_ERROR_CONTAINS(learning_rate(with([](auto& o) { o.min_lr = 1.0f; }), 0),
                        "schedule: min_lr must");
  EXPECT_ERROR_CONTAINS(learning_rate(good, -1), "schedule: step must be >= 0, got -1");
  EXPECT_ERROR_CONTAINS(learning_rate(ScheduleOptions{}, 0), "total_steps");  // required field
}

}  // namespace
}  // namespace heed::optim
