// The causal language model (nn/models/text_encoder.h) against tools/text_encoder.py's PyTorch
// reference (same parameter names; pre-norm and post-norm): logits at every position and every
// parameter's gradient; then decoding with the KV cache (nn/generation.h) against the same
// logits position by position, cached and uncached generation token for token, and sampling
// against the probabilities it should draw from.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "heed/io/safetensors.h"
#include "heed/nn/generation.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed::nn {
namespace {

io::SafetensorsFile golden(const std::string& norm) {
  return io::read_safetensors(std::string(HEED_GOLDEN_DIR) + "/text/text_causal_lm_" + norm + ".safetensors");
}

TextEncoderConfig golden_config(bool pre_norm) {
  TextEncoderConfig c;
  c.vocab_size = 40;
  c.max_len = 12;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.mlp_ratio = 2.0;
  c.dropout = 0.f;
  c.pre_norm = pre_norm;
  return c;
}

std::unique_ptr<CausalLanguageModel> golden_model(const io::SafetensorsFile& f, bool pre_norm) {
  auto model = std::make_unique<CausalLanguageModel>(golden_config(pre_norm), 0);
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : f.tensors)
    if (name.rfind("golden.", 0) != 0) state[name] = t;
  model->load_state_dict(state);
  model->eval();
  return model;
}

// The reference's logits [B, T, V] at (b, p).
std::vector<float> reference_row(const io::SafetensorsFile& f, int64_t b, int64_t p) {
  const Tensor& logits = f.get("golden.logits");
  const int64_t t = logits.size(1), v = logits.size(2);
  const float* row = logits.f32() + (b * t + p) * v;
  return std::vector<float>(row, row + v);
}

// Tolerances, absolute: about 4x the worst measured on Zen 4 (logits 2.3e-6 of order 5 over a
// 40-way tied output; gradients 7.9e-7).
constexpr double kLogits = 1e-5, kGrads = 4e-6;

TEST(CausalLmGolden, LogitsAndGradientsMatchPyTorch) {
  for (const char* norm : {"pre", "post"}) {
    const io::SafetensorsFile f = golden(norm);
    auto model = golden_model(f, std::string(norm) == "pre");
    Batch batch;
    const Tensor& targets = f.get("golden.targets");
    batch.tensors = {{"tokens", f.get("golden.tokens")}, {"lengths", f.get("golden.lengths")}, {"targets", targets}};
    const ModelOutput out = model->forward(batch);
    ASSERT_TRUE(out.output_weight.defined());
    // The positions with a target, row-major, as the reference picks them.
    std::vector<float> want, got = linear(out.logits, out.output_weight).value().to_vector();
    std::vector<int64_t> flat_targets;
    const int64_t t = targets.size(1);
    for (int64_t i = 0; i < targets.numel(); ++i)
      if (targets.i64()[i] != -100) {
        const std::vector<float> row = reference_row(f, i / t, i % t);
        want.insert(want.end(), row.begin(), row.end());
        flat_targets.push_back(targets.i64()[i]);
      }
    test::report_errors(std::string(norm) + " logits", got, want);
    EXPECT_TRUE(test::all_close(got, want, kLogits, 1e-6)) << norm;
    linear_cross_entropy(out.logits, out.output_weight,
                         Tensor::from_indices({int64_t(flat_targets.size())}, flat_targets))
        .backward();
    int compared = 0;
    for (const auto& [name, var] : model->named_parameters()) {
      const std::vector<float> g = var->grad().to_vector(), w = f.get("golden.grad." + name).to_vector();
      test::report_errors(std::string(norm) + " grad " + name, g, w);
      EXPECT_TRUE(test::all_close(g, w, kGrads, 1e-6)) << norm << ": gradient of " << name;
      ++compared;
    }
    EXPECT_GT(compared, 20);
  }
}

TEST(CausalLmGolden, NextTokenLogitsWithoutTargetsAreTheLastPositions) {
  const io::SafetensorsFile f = golden("pre");
  auto model = golden_model(f, true);
  NoGradGuard no_grad;
  Batch batch;
  batch.tensors = {{"tokens", f.get("golden.tokens")}, {"lengths", f.get("golden.lengths")}};
  const Tensor logits = model->forward(batch).logits.value();
  ASSERT_EQ(logits.shape(), (Shape{3, 40}));
  const Tensor& lengths = f.get("golden.lengths");
  for (int64_t b = 0; b < 3; ++b) {
    const std::vector<float> got(logits.f32() + b * 40, logits.f32() + (b + 1) * 40);
    EXPECT_TRUE(test::all_close(got, reference_row(f, b, lengths.i64()[b] - 1), kLogits, 1e-6)) << "row " << b;
  }
}

TEST(CausalLmGolden, KvCacheDecodingGivesTheReferenceLogitsAtEveryPosition) {
  // Row 0 (9 tokens) fed as a prompt of 3, then one token a step; and all 9 at once.
  for (const char* norm : {"pre", "post"}) {
    const io::SafetensorsFile f = golden(norm);
    auto model = golden_model(f, std::string(norm) == "pre");
    NoGradGuard no_grad;
    const Tensor& tokens = f.get("golden.tokens");
    std::vector<int64_t> row(tokens.i64(), tokens.i64() + 9);
    KvCache cache = model->new_cache(1, 12);
    EXPECT_EQ(kv_cache_bytes(1, 12, 16, 2), int64_t(cache.layers.size()) * cache.layers[0].numel() * 4);
    Tensor logits = model->decode(Tensor::from_indices({1, 3}, {row[0], row[1], row[2]}), cache);
    EXPECT_TRUE(test::all_close(logits.to_vector(), reference_row(f, 0, 2), kLogits, 1e-6)) << norm << " prompt";
    for (int64_t p = 3; p < 9; ++p) {
      logits = model->decode(Tensor::from_indices({1, 1}, {row[size_t(p)]}), cache);
      EXPECT_TRUE(test::all_close(logits.to_vector(), reference_row(f, 0, p), kLogits, 1e-6)) << norm << " at " << p;
    }
    EXPECT_EQ(cache.length, 9);
    KvCache whole = model->new_cache(1, 9);
    logits = model->decode(Tensor::from_indices({1, 9}, row), whole);
    EXPECT_TRUE(test::all_close(logits.to_vector(), reference_row(f, 0, 8), kLogits, 1e-6)) << norm << " at once";
    EXPECT_THROW(model->decode(Tensor::from_indices({1, 1}, {5}), whole), Error) << "a full cache took more";
  }
}

std::unique_ptr<CausalLanguageModel> random_model(int64_t max_len) {
  TextEncoderConfig c = golden_config(true);
  c.max_len = max_len;
  c.vocab_size = 50;
  auto model = std::make_unique<CausalLanguageModel>(c, 7);
  // Larger weights than the initialiser's 0.02, so the next token depends on the context.
  Rng rng(11);
  for (auto& [name, var] : model->named_parameters())
    if (var->value().dim() >= 2) var->value().copy_(Tensor::uniform(var->shape(), rng, -1.f, 1.f));
  return model;
}

TEST(Generation, CachedAndUncachedDecodingAreTokenIdentical) {
  auto model = random_model(48);
  for (double temperature : {0.0, 1.0}) {
    GenerateOptions o;
    o.max_tokens = 40;
    o.sampling.temperature = temperature;
    o.sampling.top_k = temperature > 0 ? 10 : 0;
    o.sampling.seed = 5;
    std::vector<int64_t> streamed;
    const std::vector<int64_t> cached = generate(*model, {2, 17, 9}, o, [&](int64_t t) { streamed.push_back(t); });
    o.use_cache = false;
    const std::vector<int64_t> uncached = generate(*model, {2, 17, 9}, o);
    EXPECT_EQ(cached.size(), 40u) << "no eos: max_tokens new tokens";
    EXPECT_EQ(cached, uncached) << "temperature " << temperature;
    EXPECT_EQ(streamed, cached);
    EXPECT_GT(std::set<int64_t>(cached.begin(), cached.end()).size(), 3u) << "a degenerate test model";
  }
}

TEST(Generation, StopsAtEosAndAtTheContext) {
  auto model = random_model(16);
  GenerateOptions o;
  o.max_tokens = 100;
  const std::vector<int64_t> free_run = generate(*model, {2, 4}, o);
  EXPECT_EQ(free_run.size(), 15u) << "2 prompt and 14 generated tokens fill the 16 positions; the last of them chooses one more";
  o.eos = free_run[4];
  const std::vector<int64_t> stopped = generate(*model, {2, 4}, o);
  EXPECT_LE(stopped.size(), 5u);
  EXPECT_EQ(stopped.back(), o.eos);
  EXPECT_THROW(generate(*model, std::vector<int64_t>(16, 5), o), Error) << "a prompt filling the context";
  EXPECT_THROW(generate(*model, {}, o), Error);
}

TEST(Generation, RefusesACacheOverTheMemoryLimitBeforeAllocating) {
  auto model = random_model(48);
  GenerateOptions o;
  o.max_tokens = 30;
  o.max_memory = kv_cache_bytes(1, 33, 16, 2) - 1;  // one byte short of prompt 3 + 30 tokens
  try {
    generate(*model, {2, 3, 4}, o);
    FAIL() << "a cache over --max-memory was allocated";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--max-memory"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(kv_cache_bytes(1, 33, 16, 2)) + " bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("256 per token"), std::string::npos) << what;  // 2 layers x (K + V) x 16 x 4 bytes
  }
  o.max_memory += 1;
  EXPECT_EQ(generate(*model, {2, 3, 4}, o).size(), 30u);
}

// log P(tokens | prompt) by the uncached forward, one prefix at a time: the beam's oracle.
double log_probability(CausalLanguageModel& model, std::vector<int64_t> sequence, const std::vector<int64_t>& tokens) {
  NoGradGuard no_grad;
  model.eval();
  double total = 0;
  for (int64_t token : tokens) {
    Batch batch;
    const int64_t t = int64_t(sequence.size());
    batch.tensors = {{"tokens", Tensor::from_indices({1, t}, sequence)}, {"lengths", Tensor::from_indices({1}, {t})}};
    const std::vector<float> logits = model.forward(batch).logits.value().to_vector();
    double z = 0;
    const float top = *std::max_element(logits.begin(), logits.end());
    for (float l : logits) z += std::exp(double(l) - double(top));
    total += double(logits[size_t(token)]) - double(top) - std::log(z);
    sequence.push_back(token);
  }
  return total;
}

TEST(BeamSearch, OneBeamIsGreedyAndCachedEqualsUncached) {
  auto model = random_model(48);
  GenerateOptions greedy;
  greedy.max_tokens = 20;
  BeamOptions o;
  o.beam = 1;
  o.max_tokens = 20;
  EXPECT_EQ(beam_search(*model, {2, 6}, o).front().tokens, generate(*model, {2, 6}, greedy));
  o.beam = 4;
  o.eos = generate(*model, {2, 6}, greedy)[6];  // a token the model does choose, so some beams end
  const std::vector<BeamHypothesis> cached = beam_search(*model, {2, 6}, o);
  o.use_cache = false;
  const std::vector<BeamHypothesis> uncached = beam_search(*model, {2, 6}, o);
  ASSERT_EQ(cached.size(), uncached.size());
  for (size_t i = 0; i < cached.size(); ++i) {
    EXPECT_EQ(cached[i].tokens, uncached[i].tokens) << "hypothesis " << i;
    EXPECT_NEAR(cached[i].score, uncached[i].score, 1e-4);
  }
  // Each score is the hypothesis's log-probability (recomputed here) over its length.
  for (const BeamHypothesis& h : cached) {
    const double lp = log_probability(*model, {2, 6}, h.tokens);
    EXPECT_NEAR(h.log_probability, lp, 1e-4);
    EXPECT_NEAR(h.score, lp / double(h.tokens.size()), 1e-4);
    EXPECT_TRUE(h.tokens.size() == 20u || h.tokens.back() == o.eos);
  }
  for (size_t i = 1; i < cached.size(); ++i) EXPECT_GE(cached[i - 1].score, cached[i].score);
}

TEST(BeamSearch, AsManyBeamsAsPiecesFindTheExhaustiveBest) {
  // Over two tokens, beams = vocabulary keep every first token: the best pair is found, which
  // a search over all 50 x 50 pairs confirms.
  auto model = random_model(16);
  BeamOptions o;
  o.beam = 50;
  o.max_tokens = 2;
  o.length_penalty = 0;
  const BeamHypothesis best = beam_search(*model, {2, 9}, o).front();
  double exhaustive = -1e30;
  std::vector<int64_t> argbest;
  for (int64_t a = 0; a < 50; ++a) {
    const double first = log_probability(*model, {2, 9}, {a});
    NoGradGuard no_grad;
    Batch batch;
    batch.tensors = {{"tokens", Tensor::from_indices({1, 3}, {2, 9, a})}, {"lengths", Tensor::from_indices({1}, {3})}};
    const std::vector<float> logits = model->forward(batch).logits.value().to_vector();
    const float top = *std::max_element(logits.begin(), logits.end());
    double z = 0;
    for (float l : logits) z += std::exp(double(l) - double(top));
    for (int64_t b = 0; b < 50; ++b) {
      const double lp = first + double(logits[size_t(b)]) - double(top) - std::log(z);
      if (lp > exhaustive) exhaustive = lp, argbest = {a, b};
    }
  }
  EXPECT_EQ(best.tokens, argbest);
  EXPECT_NEAR(best.log_probability, exhaustive, 1e-4);
  o.beam = 51;
  EXPECT_THROW(beam_search(*model, {2, 9}, o), Error) << "a beam larger than the vocabulary";
}

// Sampling draws from softmax(logits / T) cut to top-k or the nucleus: frequencies over many
// draws against those probabilities, computed here in closed form.
TEST(Sampling, FrequenciesFollowTheKeptProbabilities) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.5f, -1.0f, 0.0f};
  auto frequencies = [&](const SamplingOptions& o) {
    std::vector<double> counts(logits.size(), 0);
    const int n = 40000;
    for (int step = 0; step < n; ++step) counts[size_t(choose_token(logits.data(), 5, o, uint64_t(step)))] += 1.0 / n;
    return counts;
  };
  auto softmax_of = [&](const std::vector<int>& kept, double temperature) {
    std::vector<double> p(logits.size(), 0);
    double total = 0;
    for (int i : kept) total += p[size_t(i)] = std::exp(double(logits[size_t(i)]) / temperature);
    for (double& x : p) x /= total;
    return p;
  };
  auto expect_near = [](const std::vector<double>& got, const std::vector<double>& want, const char* what) {
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 0.01) << what << " token " << i;
  };
  SamplingOptions o;
  o.temperature = 1;
  expect_near(frequencies(o), softmax_of({0, 1, 2, 3, 4}, 1), "T = 1");
  o.temperature = 0.5;
  expect_near(frequencies(o), softmax_of({0, 1, 2, 3, 4}, 0.5), "T = 0.5");
  o.temperature = 1;
  o.top_k = 2;
  expect_near(frequencies(o), softmax_of({0, 1}, 1), "top-k 2");
  // softmax at T = 1, by falling logit: token 0 0.563, 1 0.207, 2 0.126, 4 0.076, 3 0.028; the
  // nucleus 0.8 stops at token 2 (0.563 + 0.207 = 0.770 < 0.8 <= 0.896).
  o.top_k = 0;
  o.top_p = 0.8;
  expect_near(frequencies(o), softmax_of({0, 1, 2}, 1), "top-p 0.8");
  o.temperature = 0;
  EXPECT_EQ(choose_token(logits.data(), 5, o, 3), 0) << "greedy";
  o.temperature = -1;
  EXPECT_THROW(o.validate(), Error);
  o.temperature = 1;
  o.top_p = 0;
  EXPECT_THROW(o.validate(), Error);
}

TEST(Sampling, TheSameSeedGivesTheSameTokens) {
  auto model = random_model(48);
  GenerateOptions o;
  o.max_tokens = 20;
  o.sampling.temperature = 1.0;
  o.sampling.seed = 9;
  const std::vector<int64_t> a = generate(*model, {2, 8}, o), b = generate(*model, {2, 8}, o);
  EXPECT_EQ(a, b);
  o.sampling.seed = 10;
  EXPECT_NE(generate(*model, {2, 8}, o), a);
}

}  // namespace
}  // namespace heed::nn
