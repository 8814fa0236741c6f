// The causal-LM task end to end on a small generated language whose next word is known (runs of
// consecutive number words, "three four five six"): the targets are the next tokens, training
// drives the validation perplexity towards the language's own, the checkpoint is self-contained,
// resume is bit-identical, and `heed eval` / `heed generate` (cached, uncached, sampled) work
// from the CLI; bad input is named.
#include "heed/tasks/causal_lm.h"
#include "heed/tasks/masked_lm.h"
#include "heed/tasks/next_token.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "compress/prune_test_util.h"
#include "heed/core/rng.h"
#include "heed/io/safetensors.h"
#include "test_files.h"
#include "test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kWords[] = {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"};

// Lines of 3..7 consecutive number words from a random start: after the first word, each word
// is certain; where a line ends is not.
void write_runs(const fs::path& path, int n, uint64_t seed) {
  Rng rng(seed);
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    const int length = 3 + int(rng.below(5)), start = int(rng.below(uint64_t(11 - length)));
    for (int w = 0; w < length; ++w) out << (w ? " " : "") << kWords[start + w];
    out << "\n";
  }
}

json base_config(const fs::path& dir) {
  json j = json::parse(R"({
    "task": "causal-lm",
    "model": {"dim": 32, "depth": 2, "heads": 2, "mlp_ratio": 2.0, "max_len": 24, "dropout": 0.0},
    "train": {"epochs": 6, "batch_size": 16, "lr": 0.01, "min_lr": 0.0005, "warmup_epochs": 0.5, "seed": 3,
              "threads": 2, "log_every": 1000},
    "data": {"max_tokens": 24, "vocab_size": 40, "eval_batch_size": 32, "bucket_batches": 4}
  })");
  j["data"]["train"] = (dir / "train.txt").string();
  j["data"]["test"] = (dir / "test.txt").string();
  return j;
}

class CausalLmTaskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new test::ScratchDir("heed_lm_data_");
    write_runs(data_->path() / "train.txt", 400, 1);
    write_runs(data_->path() / "test.txt", 80, 2);
  }
  static void TearDownTestSuite() { delete data_; }
  std::string out(const std::string& name) const { return dir_ / name; }
  static test::ScratchDir* data_;
  test::ScratchDir dir_{"heed_lm_"};
};
test::ScratchDir* CausalLmTaskTest::data_ = nullptr;

TEST(CausalLmDataset, TargetsAreTheNextTokens) {
  const CausalLmDataset data({{2, 7, 8, 9, 3}, {2, 5, 3}}, {});
  const nn::Batch b = data.batch({0, 1}, {0, 1, true});
  EXPECT_EQ(b.at("tokens").shape(), (Shape{2, 5}));
  const Tensor& t = b.at("targets");
  EXPECT_EQ(std::vector<int64_t>(t.i64(), t.i64() + 10),
            (std::vector<int64_t>{7, 8, 9, 3, -100, 5, 3, -100, -100, -100}));
  EXPECT_EQ(CausalLmTask().target_weight(b), 6);
  EXPECT_EQ(next_token_targets(t).numel(), 6);
}

// train.label_smoothing reaches both language-model losses: PyTorch's smoothed cross-entropy,
// written out over fixed logits, per counted row (1 - eps) * -log p[target] + eps * mean_j -log p[j].
TEST(LanguageModelTasks, LossesApplyLabelSmoothing) {
  const std::vector<float> z = {1.5f, -0.5f, 0.25f, 2.f, 0.f, 1.f, -1.f, 0.5f};  // [2 rows, 4 classes]
  const std::vector<int64_t> targets = {3, 1};
  const float eps = 0.3f;
  double expected = 0;
  for (int r = 0; r < 2; ++r) {
    double sum = 0, mean_nll = 0;
    for (int j = 0; j < 4; ++j) sum += std::exp(double(z[size_t(r * 4 + j)]));
    for (int j = 0; j < 4; ++j) mean_nll += (std::log(sum) - z[size_t(r * 4 + j)]) / 4;
    expected += ((1 - eps) * (std::log(sum) - z[size_t(r * 4 + targets[size_t(r)])]) + eps * mean_nll) / 2;
  }
  nn::ModelOutput out;
  out.logits = Var(Tensor::from_vector({2, 4}, z));
  nn::Batch lm, mlm;  // -100 marks positions without a target
  lm.tensors["targets"] = Tensor::from_indices({1, 3}, {3, -100, 1});
  mlm.tensors["mlm_labels"] = Tensor::from_indices({1, 3}, {3, -100, 1});
  EXPECT_NEAR(CausalLmTask(eps).loss(out, lm).value().item(), expected, 1e-5);
  EXPECT_NEAR(MaskedLmTask(eps).loss(out, mlm).value().item(), expected, 1e-5);
  EXPECT_GT(std::abs(CausalLmTask().loss(out, lm).value().item() - expected), 1e-3);  // smoothing changes it
}

TEST_F(CausalLmTaskTest, TrainsEvaluatesAndGenerates) {
  const train::TrainResult r = train_causal_lm(parse_causal_lm_config(base_config(data_->path())), out("run"), false);
  EXPECT_EQ(r.epochs_done, 6);
  // The language's own perplexity per token is low: only a line's first word and its end are
  // uncertain (a uniform guess over 40 pieces would be 40).
  EXPECT_LT(r.best_metric, 3.0) << "validation perplexity";
  const io::SafetensorsFile f = io::read_safetensors(r.best_path);
  EXPECT_EQ(f.metadata.at("task"), "causal-lm");
  EXPECT_EQ(f.metadata.at("model"), "text-causal-lm");
  ASSERT_TRUE(f.metadata.count("tokenizer"));
  for (const auto& [name, t] : f.tensors) EXPECT_EQ(name.find("head"), std::string::npos) << "the output is tied";

  const test::CliResult ev = test::run_cli({"eval", "--checkpoint", r.best_path, "--json"}, dir_.path());
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const json e = json::parse(ev.out);
  EXPECT_LT(e.at("perplexity").get<double>(), 3.0);
  EXPECT_GT(e.at("next_token_accuracy").get<double>(), 0.7);
  EXPECT_EQ(e.at("data"), *data_ / "test.txt") << "data.test by default";

  // Greedy: the run continues; cached and uncached agree token for token; text streams.
  const test::CliResult g = test::run_cli(
      {"generate", "--checkpoint", r.best_path, "--prompt", "two three", "--max-tokens", "3", "--json"}, dir_.path());
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const json gj = json::parse(g.out);
  EXPECT_EQ(gj.at("continuation").get<std::string>().rfind("four five", 0), 0u) << g.out;
  EXPECT_EQ(gj.at("kv_cache_bytes_per_token"), 2 * 2 * 32 * 4);
  const test::CliResult u = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", "two three",
                                           "--max-tokens", "3", "--json", "--no-cache"}, dir_.path());
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(json::parse(u.out).at("tokens"), gj.at("tokens"));
  const test::CliResult beam = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", "two three",
                                              "--max-tokens", "3", "--beam", "3", "--json"}, dir_.path());
  ASSERT_EQ(beam.exit_code, 0) << beam.err;
  EXPECT_EQ(json::parse(beam.out).at("continuation").get<std::string>().rfind("four five", 0), 0u) << beam.out;
  EXPECT_LT(json::parse(beam.out).at("log_probability").get<double>(), 0);
  const test::CliResult s = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", "five", "--max-tokens",
                                           "8", "--temperature", "0.8", "--top-p", "0.9", "--seed", "4"}, dir_.path());
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(s.out.rfind("six", 0), 0u) << "sampled, but six is all but certain: " << s.out;
  const test::CliResult p = test::run_cli({"predict", "--checkpoint", r.best_path, "--text", "six seven", "--json"}, dir_.path());
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(json::parse(p.out).at("continuation").get<std::string>().rfind("eight", 0), 0u) << p.out;

  // Bad requests are named before any work.
  const test::CliResult big = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", "one", "--max-tokens",
                                             "20", "--max-memory", "100"}, dir_.path());
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_NE(big.err.find("--max-memory 100"), std::string::npos) << big.err;
  const test::CliResult temp = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", "one",
                                              "--temperature", "-1"}, dir_.path());
  EXPECT_NE(temp.err.find("--temperature"), std::string::npos) << temp.err;
  std::string long_prompt;
  for (int i = 0; i < 30; ++i) long_prompt += "one ";
  const test::CliResult lp = test::run_cli({"generate", "--checkpoint", r.best_path, "--prompt", long_prompt}, dir_.path());
  EXPECT_NE(lp.err.find("model.max_len"), std::string::npos) << lp.err;
}

// heed prune on a causal LM: heads chosen on data.train and removed for real. The smaller
// model's test perplexity is the curve's (the same heads masked in the full model), its KV
// cache shrinks with its heads, and cached and uncached decoding still agree token for token.
TEST_F(CausalLmTaskTest, PrunedHeadsShrinkTheModelAndItsKvCache) {
  json j = base_config(data_->path());
  j["train"]["epochs"] = 2;
  const train::TrainResult r = train_causal_lm(parse_causal_lm_config(j), out("run"), false);
  const std::string pruned = out("pruned.safetensors");
  const compress::PruneReport p = test::prune_half(r.best_path, pruned);
  EXPECT_EQ(p.metric_name, "perplexity");
  EXPECT_EQ(p.importance.examples, 400) << "every document of data.train";
  EXPECT_EQ(p.removed.layer_heads, (std::vector<int64_t>{1, 1})) << "2 of 4 heads, every layer keeping one";
  // Each head removed: 3 x 16 rows of 32 weights and 48 biases in, 32 x 16 weights out.
  EXPECT_EQ(p.removed.parameters_before - p.removed.parameters_after, 2 * (3 * 16 * 32 + 3 * 16 + 32 * 16));
  ASSERT_EQ(p.curve.size(), 2u);
  EXPECT_GT(p.curve[1].metric, p.curve[0].metric) << "losing half the heads costs something";

  EXPECT_NEAR(test::eval_figure(r.best_path, "perplexity", dir_.path()), p.curve[0].metric, 1e-6 * p.curve[0].metric);
  EXPECT_NEAR(test::eval_figure(pruned, "perplexity", dir_.path()), p.curve[1].metric, 1e-4 * p.curve[1].metric)
      << "removed = masked";

  const std::vector<std::string> prompt = {"generate", "--checkpoint", pruned, "--prompt", "two three",
                                           "--max-tokens", "6", "--json"};
  for (const std::vector<std::string>& extra : {std::vector<std::string>{}, {"--beam", "3"}}) {
    std::vector<std::string> cached = prompt, uncached = prompt;
    cached.insert(cached.end(), extra.begin(), extra.end());
    uncached.insert(uncached.end(), extra.begin(), extra.end());
    uncached.push_back("--no-cache");
    const test::CliResult a = test::run_cli(cached, dir_.path()), b = test::run_cli(uncached, dir_.path());
    ASSERT_EQ(a.exit_code, 0) << a.err;
    ASSERT_EQ(b.exit_code, 0) << b.err;
    EXPECT_EQ(json::parse(a.out).at("tokens"), json::parse(b.out).at("tokens")) << a.out << b.out;
    // Two layers of one 16-wide head, keys and values in f32: half the unpruned 2 x 2 x 32 x 4.
    EXPECT_EQ(json::parse(a.out).at("kv_cache_bytes_per_token"), 2 * 2 * 16 * 4);
  }
}

TEST_F(CausalLmTaskTest, ResumeIsBitIdentical) {
  json ja = base_config(data_->path());
  ja["train"]["epochs"] = 3;
  train_causal_lm(parse_causal_lm_config(ja), out("a"), false);
  json jb = ja;
  jb["train"]["time_limit_minutes"] = 1e-9;
  const CausalLmConfig b = parse_causal_lm_config(jb);
  EXPECT_EQ(train_causal_lm(b, out("b"), false).epochs_done, 1);
  EXPECT_EQ(train_causal_lm(b, out("b"), true).epochs_done, 2);
  EXPECT_EQ(train_causal_lm(b, out("b"), true).epochs_done, 3);
  const io::SafetensorsFile fa = io::read_safetensors(out("a") + "/last.safetensors");
  const io::SafetensorsFile fb = io::read_safetensors(out("b") + "/last.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i)
    if (fa.tensors[i].second.dtype() == DType::F32) {
      EXPECT_EQ(fa.tensors[i].second.to_vector(), fb.tensors[i].second.to_vector()) << fa.tensors[i].first;
    }
}

TEST(CausalLmConfig, TheShippedConfigParsesAndRoundTrips) {
  const fs::path path = fs::path(HEED_GOLDEN_DIR) / ".." / ".." / "configs" / "lm-ddtp.json";
  std::ifstream in(path);
  const CausalLmConfig c = parse_causal_lm_config(json::parse(in));
  EXPECT_EQ(c.data.input.train, "data/ddtp/lm-train.txt");
  EXPECT_LE(c.data.input.max_tokens, c.model.max_len);
  EXPECT_EQ(to_json(parse_causal_lm_config(to_json(c))), to_json(c));
  json bad = to_json(c);
  bad["data"]["max_tokens"] = c.model.max_len + 1;
  try {
    parse_causal_lm_config(bad);
    FAIL() << "max_tokens beyond model.max_len accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("max_len"), std::string::npos) << e.what();
  }
}

TEST_F(CausalLmTaskTest, ACheckpointOfAnotherTaskIsRefused) {
  test::write_tiny_vit_checkpoint(out("vit.safetensors"), 8);
  const test::CliResult g = test::run_cli({"generate", "--checkpoint", out("vit.safetensors"), "--prompt", "one"}, dir_.path());
  EXPECT_EQ(g.exit_code, 1);
  EXPECT_NE(g.err.find("not causal-lm"), std::string::npos) << g.err;
}

}  // namespace
}  // namespace heed::tasks
