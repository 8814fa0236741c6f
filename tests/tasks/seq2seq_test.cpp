// The seq2seq task end to end on a small generated pair language whose answer is known (the
// target is the source's first two words): batches are teacher-forced as documented, training
// makes greedy decoding right, `heed eval` reports ROUGE beside the lead baseline, `heed
// translate` keeps one output line per input line (empty lines too), resume is bit-identical,
// and bad configs are named.
#include "heed/tasks/seq2seq.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "compress/prune_test_util.h"
#include "heed/nn/generation.h"
#include "heed/tasks/registry.h"
#include "heed/core/rng.h"
#include "heed/io/safetensors.h"
#include "test_files.h"
#include "test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kWords[] = {"red", "green", "blue", "cyan", "black", "white", "pink", "gold"};

void write_pairs(const fs::path& path, int n, uint64_t seed) {
  Rng rng(seed);
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    std::string source;
    std::vector<std::string> words;
    const int length = 3 + int(rng.below(5));
    for (int w = 0; w < length; ++w) words.push_back(kWords[rng.below(8)]);
    for (const auto& w : words) source += (source.empty() ? "" : " ") + w;
    out << json{{"source", source}, {"target", words[0] + " " + words[1]}}.dump() << "\n";
  }
}

json base_config(const fs::path& dir) {
  json j = json::parse(R"({
    "task": "seq2seq",
    "model": {"dim": 64, "heads": 4, "encoder_depth": 1, "decoder_depth": 1, "mlp_hidden": 128, "max_len": 16,
              "dropout": 0.0},
    "train": {"epochs": 30, "batch_size": 16, "lr": 0.003, "min_lr": 0.0005, "warmup_epochs": 0.5, "seed": 3,
              "threads": 2, "log_every": 1000},
    "data": {"text_fields": ["source", "target"], "max_tokens": 12, "max_target_tokens": 6, "vocab_size": 40,
             "eval_batch_size": 32, "bucket_batches": 4}
  })");
  j["data"]["train"] = (dir / "train.jsonl").string();
  j["data"]["test"] = (dir / "test.jsonl").string();
  return j;
}

class Seq2SeqTaskTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new test::ScratchDir("heed_s2s_data_");
    write_pairs(data_->path() / "train.jsonl", 400, 1);
    write_pairs(data_->path() / "test.jsonl", 40, 2);
  }
  static void TearDownTestSuite() { delete data_; }
  std::string out(const std::string& name) const { return dir_ / name; }
  static test::ScratchDir* data_;
  test::ScratchDir dir_{"heed_s2s_"};
};
test::ScratchDir* Seq2SeqTaskTest::data_ = nullptr;

std::vector<int64_t> ints(const Tensor& t) { return std::vector<int64_t>(t.i64(), t.i64() + t.numel()); }

TEST(Seq2SeqDataset, BatchesAreTeacherForced) {
  const Seq2SeqDataset data({{7, 8, 3}, {9, 3}}, {{11, 12}, {13}});
  const nn::Batch b = data.batch({0, 1}, {});
  EXPECT_EQ(ints(b.at("source")), (std::vector<int64_t>{7, 8, 3, 9, 3, 0}));
  EXPECT_EQ(ints(b.at("source_lengths")), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ints(b.at("target_in")), (std::vector<int64_t>{2, 11, 12, 2, 13, 0}));    // [CLS] + target
  EXPECT_EQ(ints(b.at("targets")), (std::vector<int64_t>{11, 12, 3, 13, 3, -100}));  // target + [SEP]
  EXPECT_EQ(ints(b.at("target_lengths")), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Seq2SeqTask().target_weight(b), 5);
}

TEST(Seq2Seq, LeadSentenceIsTheFirstSentenceCutToWords) {
  EXPECT_EQ(lead_sentence("Tools for X. They do Y.", 10), "Tools for X.");
  EXPECT_EQ(lead_sentence("Tools for X and more. They do Y.", 3), "Tools for X");
  EXPECT_EQ(lead_sentence("no period here", 5), "no period here");
}

TEST_F(Seq2SeqTaskTest, TrainsEvaluatesAndTranslates) {
  const train::TrainResult r = train_seq2seq(parse_seq2seq_config(base_config(data_->path())), out("run"), false);
  EXPECT_EQ(r.epochs_done, 30);
  EXPECT_LT(r.best_metric, 3.0) << "validation perplexity";
  const io::SafetensorsFile f = io::read_safetensors(r.best_path);
  EXPECT_EQ(f.metadata.at("task"), "seq2seq");
  EXPECT_EQ(f.metadata.at("model"), "seq2seq-transformer");
  const test::CliResult ev = test::run_cli({"eval", "--checkpoint", r.best_path, "--json"}, dir_.path());
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const json e = json::parse(ev.out);
  EXPECT_GT(e.at("greedy").at("rougeL").get<double>(), 0.9) << ev.out;  // the first two words, learnt
  EXPECT_EQ(e.at("lead_words"), 2);
  EXPECT_GT(e.at("lead").at("rougeL").get<double>(), 0.99) << "the lead baseline is this task's answer";
  // The outputs are about two words: no 4-gram, so BLEU is 0 (as sacreBLEU says); chrF sees them,
  // and the copy baseline (the whole source) loses precision.
  EXPECT_EQ(e.at("greedy").at("bleu").get<double>(), 0);
  EXPECT_GT(e.at("greedy").at("chrf").get<double>(), 95) << ev.out;
  EXPECT_LT(e.at("copy").at("chrf").get<double>(), 90) << ev.out;
  test::write_text(dir_.path() / "in.txt", "blue red gold\n\nwhite pink black cyan\n");
  const test::CliResult t = test::run_cli({"translate", "--checkpoint", r.best_path, "--input-file-unused"}, dir_.path());
  EXPECT_NE(t.exit_code, 0) << "an unknown option";
  const std::string command = test::cli_path().string() + " summarize --checkpoint " + r.best_path + " < " +
                              out("in.txt") + " > " + out("out.txt");
  ASSERT_EQ(std::system(command.c_str()), 0);
  EXPECT_EQ(test::read_text(dir_.path() / "out.txt"), "blue red\n\nwhite pink\n");
  const std::string beam = test::cli_path().string() + " translate --beam 3 --checkpoint " + r.best_path + " < " +
                           out("in.txt") + " > " + out("beam.txt");
  ASSERT_EQ(std::system(beam.c_str()), 0);
  EXPECT_EQ(test::read_text(dir_.path() / "beam.txt"), "blue red\n\nwhite pink\n");
  // Invalid UTF-8 is replaced and named; every line still gets its line out.
  test::write_text(dir_.path() / "bad.txt", "blue red gold\n\xff\xfe red\n\nwhite pink black\n");
  const std::string bad = test::cli_path().string() + " translate --checkpoint " + r.best_path + " < " +
                          out("bad.txt") + " > " + out("bad-out.txt") + " 2> " + out("bad-err.txt");
  ASSERT_EQ(std::system(bad.c_str()), 0);
  const std::string bad_out = test::read_text(dir_.path() / "bad-out.txt");
  EXPECT_EQ(std::count(bad_out.begin(), bad_out.end(), '\n'), 4) << bad_out;
  EXPECT_EQ(bad_out.substr(0, 9), "blue red\n");
  EXPECT_NE(test::read_text(dir_.path() / "bad-err.txt").find("line 2 is not valid UTF-8"), std::string::npos);
}

// Rows-per-batch and tokens-per-batch plans alike.
// heed prune on an encoder-decoder: every attention layer counts (the encoder's self-attention,
// the decoder's self- and cross-attention); the written file's perplexity is the curve's (the
// same heads masked), its cache and projected memory shrink with the heads, and cached and
// uncached decoding agree token for token, greedy and beam.
TEST_F(Seq2SeqTaskTest, PrunedHeadsShrinkTheModelAndItsCaches) {
  json j = base_config(data_->path());
  j["train"]["epochs"] = 4;
  const train::TrainResult r = train_seq2seq(parse_seq2seq_config(j), out("run"), false);
  const std::string pruned = out("pruned.safetensors");
  const compress::PruneReport p = test::prune_half(r.best_path, pruned);
  EXPECT_EQ(p.metric_name, "perplexity");
  ASSERT_EQ(p.importance.raw.size(), 3u) << "encoder self, decoder self, decoder cross";
  ASSERT_EQ(p.removed.layer_heads.size(), 3u);
  EXPECT_EQ(p.removed.layer_heads[0] + p.removed.layer_heads[1] + p.removed.layer_heads[2], 6) << "6 of 12 removed";
  // Each head removed: 3 x 16 rows of 64 weights and 48 biases in, 64 x 16 weights out.
  EXPECT_EQ(p.removed.parameters_before - p.removed.parameters_after, 6 * (3 * 16 * 64 + 3 * 16 + 64 * 16));
  EXPECT_NEAR(test::eval_figure(r.best_path, "perplexity", dir_.path()), p.curve[0].metric, 1e-6 * p.curve[0].metric);
  EXPECT_NEAR(test::eval_figure(pruned, "perplexity", dir_.path()), p.curve[1].metric, 1e-4 * p.curve[1].metric)
      << "removed = masked";

  std::unique_ptr<nn::Module> module = find_task(kSeq2Seq).load_module(train::read_checkpoint(pruned));
  auto& model = dynamic_cast<nn::Seq2SeqTransformer&>(*module);
  model.eval();
  EXPECT_EQ(model.config.layer_heads, p.removed.layer_heads);
  NoGradGuard no_grad;
  nn::Seq2SeqDecoder decoder(model, {{7, 8, 9, 10, 3}});
  // Keys and values of the decoder's self-attention per target position, of its cross-attention
  // per source position: 4 bytes x 2 x 16 per head kept.
  EXPECT_EQ(decoder.cache_bytes(1, 6), 6 * 128 * p.removed.layer_heads[1] + 5 * 128 * p.removed.layer_heads[2]);
  nn::GenerateOptions g;
  g.max_tokens = 5;
  const std::vector<int64_t> cached = nn::generate(decoder, {2}, g);
  g.use_cache = false;
  EXPECT_EQ(nn::generate(decoder, {2}, g), cached);
  nn::BeamOptions b;
  b.beam = 3;
  b.max_tokens = 5;
  const std::vector<nn::BeamHypothesis> beam = nn::beam_search(decoder, {2}, b);
  b.use_cache = false;
  const std::vector<nn::BeamHypothesis> reference = nn::beam_search(decoder, {2}, b);
  ASSERT_EQ(beam.size(), reference.size());
  for (size_t i = 0; i < beam.size(); ++i) EXPECT_EQ(beam[i].tokens, reference[i].tokens) << i;
}

TEST_F(Seq2SeqTaskTest, ResumeIsBitIdentical) {
  for (int64_t batch_tokens : {0, 160}) {
    const std::string tag = std::to_string(batch_tokens);
    json ja = base_config(data_->path());
    ja["train"]["epochs"] = 3;
    ja["train"]["batch_tokens"] = batch_tokens;
    train_seq2seq(parse_seq2seq_config(ja), out("a" + tag), false);
    json jb = ja;
    jb["train"]["time_limit_minutes"] = 1e-9;
    const Seq2SeqTaskConfig b = parse_seq2seq_config(jb);
    EXPECT_EQ(train_seq2seq(b, out("b" + tag), false).epochs_done, 1);
    EXPECT_EQ(train_seq2seq(b, out("b" + tag), true).epochs_done, 2);
    EXPECT_EQ(train_seq2seq(b, out("b" + tag), true).epochs_done, 3);
    const io::SafetensorsFile fa = io::read_safetensors(out("a" + tag) + "/last.safetensors");
    const io::SafetensorsFile fb = io::read_safetensors(out("b" + tag) + "/last.safetensors");
    ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
    for (size_t i = 0; i < fa.tensors.size(); ++i)
      if (fa.tensors[i].second.dtype() == DType::F32) {
        EXPECT_EQ(fa.tensors[i].second.to_vector(), fb.tensors[i].second.to_vector())
            << fa.tensors[i].first << " batch_tokens " << batch_tokens;
      }
  }
}

// train.batch_tokens: batches of at most that many tokens learn the task as row batches do; a
// budget smaller than the longest pair is refused before training, naming both.
TEST_F(Seq2SeqTaskTest, TrainsOnTokenBudgetBatches) {
  json j = base_config(data_->path());
  j["train"]["batch_tokens"] = 160;
  const train::TrainResult r = train_seq2seq(parse_seq2seq_config(j), out("tokens"), false);
  EXPECT_LT(r.best_metric, 3.0) << "validation perplexity";
  const test::CliResult ev = test::run_cli({"eval", "--checkpoint", r.best_path, "--json"}, dir_.path());
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_GT(json::parse(ev.out).at("greedy").at("rougeL").get<double>(), 0.9) << ev.out;
  // --beam decodes the test sources with beam search; the JSON key names the decoding.
  const test::CliResult beam =
      test::run_cli({"eval", "--checkpoint", r.best_path, "--beam", "3", "--json"}, dir_.path());
  ASSERT_EQ(beam.exit_code, 0) << beam.err;
  const json b = json::parse(beam.out);
  EXPECT_EQ(b.at("decoding").at("beam"), 3);
  EXPECT_GT(b.at("beam").at("rougeL").get<double>(), 0.9) << beam.out;
  EXPECT_FALSE(b.contains("greedy"));
  j["train"]["batch_tokens"] = 5;
  try {
    train_seq2seq(parse_seq2seq_config(j), out("too-small"), false);
    FAIL() << "a 5-token budget accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.batch_tokens = 5 is smaller than the longest"), std::string::npos)
        << e.what();
  }
}

TEST(Seq2SeqConfig, ShippedConfigParsesAndBadOnesAreNamed) {
  std::ifstream in(fs::path(HEED_GOLDEN_DIR) / ".." / ".." / "configs" / "summarize-ddtp.json");
  const Seq2SeqTaskConfig c = parse_seq2seq_config(json::parse(in));
  EXPECT_EQ(c.data.input.text_fields, (std::vector<std::string>{"source", "target"}));
  EXPECT_EQ(to_json(parse_seq2seq_config(to_json(c))), to_json(c));
  json bad = to_json(c);
  bad["data"]["text_fields"] = json::array({"source"});
  try {
    parse_seq2seq_config(bad);
    FAIL() << "one text field accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.text_fields"), std::string::npos) << e.what();
  }
  bad = to_json(c);
  bad["model"]["positions"] = "rotary";
  EXPECT_THROW(parse_seq2seq_config(bad), Error);
}

}  // namespace
}  // namespace heed::tasks
