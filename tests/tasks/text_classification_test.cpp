// The text tasks end to end on a small generated set (two classes told apart by their words):
// training, checkpoints with the tokenizer inside, evaluation and prediction through the
// library and the CLI, resume, masked-LM pre-training and init_from, and bad input caught
// before any work, naming file, line and field.
#include "heed/tasks/text_classification.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "heed/core/rng.h"
#include "heed/data/image_file.h"
#include "heed/io/safetensors.h"
#include "heed/tasks/masked_lm.h"
#include "heed/tasks/text_data.h"
#include "test_files.h"
#include "test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

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

// Class "offer": words of selling; class "work": words of work; both share filler words and
// have variable lengths, so batches need padding.
void write_set(const fs::path& path, int n, uint64_t seed) {
  const char* offer[] = {"free", "money", "winner", "click", "cash", "prize", "cheap", "deal"};
  const char* work[] = {"meeting", "report", "draft", "review", "project", "schedule", "agenda", "notes"};
  const char* filler[] = {"the", "a", "for", "you", "today", "please", "and", "with"};
  Rng rng(seed);
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    const bool is_offer = i % 2 == 0;
    std::string body;
    const int words = 4 + int(rng.below(20));
    for (int w = 0; w < words; ++w) {
      const bool topical = rng.uniform() < 0.4f;
      body += std::string(topical ? (is_offer ? offer : work)[rng.below(8)] : filler[rng.below(8)]) + " ";
    }
    out << json{{"subject", is_offer ? "hello" : "re: hello"}, {"body", body}, {"label", is_offer ? "offer" : "work"}}.dump()
        << "\n";
  }
}

json base_config(const fs::path& dir) {
  json j = json::parse(R"({
    "task": "text-classification",
    "model": {"dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0, "max_len": 32, "dropout": 0.0},
    "train": {"epochs": 3, "batch_size": 16, "lr": 0.005, "min_lr": 0.0001, "warmup_epochs": 0.5, "seed": 3,
              "threads": 2, "log_every": 1000},
    "data": {"text_fields": ["subject", "body"], "max_tokens": 32, "vocab_size": 48, "eval_batch_size": 20,
             "bucket_batches": 4, "select_metric": "f1:offer"}
  })");
  j["data"]["train"] = (dir / "train.jsonl").string();
  j["data"]["test"] = (dir / "test.jsonl").string();
  return j;
}

class TextTask : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new fs::path(fs::path(::testing::TempDir()) / ("heed_text_data_" + std::to_string(::getpid())));
    fs::create_directories(*data_);
    write_set(*data_ / "train.jsonl", 240, 1);
    write_set(*data_ / "test.jsonl", 60, 2);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*data_);
    delete data_;
  }
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("heed_text_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  static fs::path* data_;
  fs::path dir_;
};
fs::path* TextTask::data_ = nullptr;

// A tokenizer of 40 pieces that knows the words "one" to "ten".
data::Tokenizer counting_tokenizer() {
  std::vector<std::string> corpus;
  for (int i = 0; i < 200; ++i) corpus.push_back("one two three four five six seven eight nine ten " + std::to_string(i));
  data::TokenizerOptions to;
  to.vocab_size = 40;
  return data::Tokenizer::train(corpus, to);
}

// Truncation keeps the head, or the head and the tail (data.tail_tokens), of the whole
// [CLS] subject [SEP] body sequence: checked against slices of the uncut sequence.
TEST(EncodeFields, HeadOrHeadAndTail) {
  const data::Tokenizer tok = counting_tokenizer();
  const std::vector<std::string> fields = {"one two three", "four five six seven eight nine ten one two three four"};
  TextInputOptions o;
  o.max_tokens = 1000;
  const std::vector<int32_t> whole = encode_fields(tok, fields, o);
  ASSERT_GT(whole.size(), 12u);
  EXPECT_EQ(whole[0], data::Tokenizer::kCls);
  o.max_tokens = 10;
  EXPECT_EQ(encode_fields(tok, fields, o), std::vector<int32_t>(whole.begin(), whole.begin() + 10));
  o.tail_tokens = 4;
  std::vector<int32_t> expected(whole.begin(), whole.begin() + 6);
  expected.insert(expected.end(), whole.end() - 4, whole.end());
  EXPECT_EQ(encode_fields(tok, fields, o), expected);
  o.max_tokens = int64_t(whole.size());  // nothing to cut: the tail changes nothing
  EXPECT_EQ(encode_fields(tok, fields, o), whole);
}

// Windows (data.max_windows): the text's tokens after [CLS], cut to max_windows windows' worth
// (head, or head and tail), in the fewest windows of at most max_tokens - 1 tokens and of equal
// lengths within one, each after its own [CLS]: checked against slices of the uncut sequence.
TEST(EncodeWindows, SplitTheWholeTextEvenly) {
  const data::Tokenizer tok = counting_tokenizer();
  const std::vector<std::string> fields = {"one two three", "four five six seven eight nine ten one two three four"};
  TextInputOptions o;
  o.max_tokens = 1000;
  const std::vector<int32_t> whole = encode_fields(tok, fields, o);
  const int64_t n = int64_t(whole.size()) - 1;  // after [CLS]
  ASSERT_GE(n, 12);
  auto joined = [](const std::vector<std::vector<int32_t>>& windows, size_t width) {
    std::vector<int32_t> out;
    for (const auto& w : windows) {
      EXPECT_EQ(w[0], data::Tokenizer::kCls);
      EXPECT_LE(w.size() - 1, width);
      out.insert(out.end(), w.begin() + 1, w.end());
    }
    return out;
  };
  const std::vector<int32_t> content(whole.begin() + 1, whole.end());
  // One window: encode_fields.
  o.max_tokens = 6;
  EXPECT_EQ(encode_windows(tok, fields, o), std::vector<std::vector<int32_t>>{encode_fields(tok, fields, o)});
  // Enough windows for all: ceil(n / 5) windows, lengths within one, nothing lost.
  o.max_windows = 100;
  std::vector<std::vector<int32_t>> w = encode_windows(tok, fields, o);
  EXPECT_EQ(int64_t(w.size()), (n + 4) / 5);
  EXPECT_EQ(joined(w, 5), content);
  size_t shortest = 1000, longest = 0;
  for (const auto& x : w) shortest = std::min(shortest, x.size()), longest = std::max(longest, x.size());
  EXPECT_LE(longest - shortest, 1u);
  // Two windows of 5: the first 10 tokens; with a tail of 3, the first 7 and the last 3.
  o.max_windows = 2;
  w = encode_windows(tok, fields, o);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(joined(w, 5), std::vector<int32_t>(content.begin(), content.begin() + 10));
  o.tail_tokens = 3;
  std::vector<int32_t> expected(content.begin(), content.begin() + 7);
  expected.insert(expected.end(), content.end() - 3, content.end());
  EXPECT_EQ(joined(encode_windows(tok, fields, o), 5), expected);
  // A short text is one window, as without windows.
  o.max_tokens = 1000;
  EXPECT_EQ(encode_windows(tok, fields, o), std::vector<std::vector<int32_t>>{whole});
}

// A windowed dataset's batch: records as rows of [B, W, T] (W: the most windows in the batch),
// lengths [B, W] with 0 for a missing window, labels per record; a row slice is a record slice.
TEST(TextDataset, WindowedBatchesHaveARecordPerRow) {
  auto ints = [](const Tensor& t) { return std::vector<int64_t>(t.i64(), t.i64() + t.numel()); };
  const TextDataset data = TextDataset::windowed({{{2, 5, 6}}, {{2, 7}, {2, 8, 9, 10}, {2, 11}}, {{2, 12}, {2, 13}}},
                                                 {1, 0, 1});
  EXPECT_EQ(data.size(), 3);
  EXPECT_EQ(data.length(1), 8);
  EXPECT_EQ(data.windows(1), 3);
  const nn::Batch b = data.batch({2, 0, 1}, {});
  EXPECT_EQ(b.at("tokens").shape(), (Shape{3, 3, 4}));
  EXPECT_EQ(ints(b.at("lengths")), (std::vector<int64_t>{2, 2, 0, 3, 0, 0, 2, 4, 2}));
  EXPECT_EQ(ints(b.at("labels")), (std::vector<int64_t>{1, 1, 0}));
  const std::vector<int64_t> tokens = ints(b.at("tokens"));
  EXPECT_EQ(std::vector<int64_t>(tokens.begin() + 24, tokens.begin() + 36),
            (std::vector<int64_t>{2, 7, 0, 0, 2, 8, 9, 10, 2, 11, 0, 0}));
  const nn::Batch last = b.rows(2, 3);
  EXPECT_EQ(last.at("tokens").shape(), (Shape{1, 3, 4}));
  EXPECT_EQ(ints(last.at("labels")), std::vector<int64_t>{0});
  // The padding the model computes: 3 x 3 x 4 tokens for 15 real ones in one batch of all.
  const train::ShuffledBatches plan({0, 1, 2}, 3, false, false, 0);
  EXPECT_NEAR(padding_overhead(data, plan), 36.0 / 15.0 - 1, 1e-12);
  EXPECT_THROW(TextDataset::windowed({{{2}}, {}}, {}), Error);
}

TEST_F(TextTask, TrainsEvaluatesAndPredicts) {
  const TextClassifierConfig c = parse_text_classifier_config(base_config(*data_));
  const train::TrainResult r = train_text_classifier(c, out("run"), false);
  EXPECT_EQ(r.epochs_done, 3);
  EXPECT_GT(r.best_metric, 0.9) << "validation F1 of 'offer'";
  // The checkpoint is self-contained: task, model type, the tokenizer.
  const io::SafetensorsFile f = io::read_safetensors(r.best_path);
  EXPECT_EQ(f.metadata.at("task"), "text-classification");
  EXPECT_EQ(f.metadata.at("model"), "text-classifier");
  ASSERT_TRUE(f.metadata.count("tokenizer"));
  // Stored compressed: "zlib:" + base64 of the zlib stream of the SentencePiece model (inflated
  // here by zlib's own uncompress); the plain base64 that older checkpoints hold reads the same.
  const std::string& stored = f.metadata.at("tokenizer");
  ASSERT_TRUE(stored.starts_with("zlib:"));
  const data::Tokenizer tok = tokenizer_of(r.best_path, f.metadata);
  const std::string packed = data::base64_decode(std::string_view(stored).substr(5), "test");
  std::string model(tok.proto().size(), '\0');
  uLongf model_size = model.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(model.data()), &model_size,
                       reinterpret_cast<const Bytef*>(packed.data()), uLong(packed.size())),
            Z_OK);
  EXPECT_EQ(model, tok.proto());
  const data::Tokenizer old = tokenizer_of("old.safetensors", {{"tokenizer", data::base64_encode(tok.proto())}});
  EXPECT_EQ(old.encode("free cash prize"), tok.encode("free cash prize"));
  const json config = json::parse(f.metadata.at("config"));
  EXPECT_EQ(config["data"]["class_names"], json::parse(R"(["offer", "work"])"));  // sorted training labels
  EXPECT_EQ(config["model"]["num_classes"], 2);
  EXPECT_LE(config["model"]["vocab_size"].get<int>(), 48);
  LoadedTextClassifier m = load_text_classifier(train::read_checkpoint(r.best_path));
  const train::EvalResult e = evaluate_text_file(m, (*data_ / "test.jsonl").string());
  EXPECT_GT(e.json.at("accuracy").get<double>(), 0.9);
  EXPECT_EQ(e.json.at("total"), 60);
  // Through the CLI: eval --json agrees with the library; predict --text and --input.
  const test::CliResult ev = test::run_cli({"eval", "--checkpoint", r.best_path, "--json"}, dir_);
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_EQ(json::parse(ev.out).at("accuracy"), e.json.at("accuracy"));
  const test::CliResult p1 = test::run_cli({"predict", "--checkpoint", r.best_path, "--text", "free cash prize winner",
                                            "--json", "--top-k", "1"}, dir_);
  ASSERT_EQ(p1.exit_code, 0) << p1.err;
  EXPECT_EQ(json::parse(p1.out).at("top")[0].at("name"), "offer");
  test::write_text(dir_ / "two.txt", "meeting agenda review\nfree money click\n");
  const test::CliResult p2 = test::run_cli({"predict", "--checkpoint", r.best_path, "--input", out("two.txt"), "--json"}, dir_);
  ASSERT_EQ(p2.exit_code, 0) << p2.err;
  std::istringstream lines(p2.out);
  std::vector<json> got;
  for (std::string line; std::getline(lines, line);) got.push_back(json::parse(line));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].at("line"), 1);
  EXPECT_EQ(got[0].at("top")[0].at("name"), "work");
  EXPECT_EQ(got[1].at("top")[0].at("name"), "offer");
  EXPECT_EQ(got[0].at("top").size(), 2u);  // top-k 3 of 2 classes
  // explain --text: the prediction is predict's; tokens are the pieces after [CLS]; every file
  // is there (the overlay shows the tokens coloured by relevance).
  const test::CliResult ex = test::run_cli({"explain", "--checkpoint", r.best_path, "--text",
                                            "free cash prize winner", "--out", out("explained")}, dir_);
  ASSERT_EQ(ex.exit_code, 0) << ex.err;
  std::ifstream rel_file(out("explained") + "/relevance.json"), att_file(out("explained") + "/attention.json");
  const json rel = json::parse(rel_file), att = json::parse(att_file);
  EXPECT_EQ(rel.at("predicted").at("name"), "offer");
  EXPECT_EQ(att.at("tokens")[0], "[CLS]");
  EXPECT_EQ(rel.at("tokens").size() + 1, att.at("tokens").size());
  for (const char* method : {"attention", "rollout", "gradient_rollout"})
    EXPECT_EQ(rel.at("methods").at(method).at("tokens").size(), rel.at("tokens").size()) << method;
  EXPECT_TRUE(fs::exists(out("explained") + "/index.html"));
  EXPECT_EQ(data::read_image(out("explained") + "/overlay.png").size(0), 3);
}

// data.max_windows: texts of up to ~25 tokens in windows of 7 after [CLS] train on data-parallel
// replicas (rows are records), evaluate and predict; a record's probabilities are those of the
// mean of its windows' logits, rebuilt here from the windows classified one by one.
TEST_F(TextTask, WindowedTextsTrainEvaluateAndPredict) {
  json j = base_config(*data_);
  j["data"]["max_tokens"] = 8;
  j["data"]["max_windows"] = 4;
  const TextClassifierConfig c = parse_text_classifier_config(j);
  const train::TrainResult r = train_text_classifier(c, out("run"), false);
  EXPECT_GT(r.best_metric, 0.9) << "validation F1 of 'offer'";
  LoadedTextClassifier m = load_text_classifier(train::read_checkpoint(r.best_path));
  EXPECT_EQ(m.config.data.input.max_windows, 4);
  const train::EvalResult e = evaluate_text_file(m, (*data_ / "test.jsonl").string());
  EXPECT_GT(e.json.at("accuracy").get<double>(), 0.9);
  Texts one;
  one.fields.push_back({"hello", "free money for you today please click the cash prize and the deal with a winner"});
  const std::unique_ptr<TextDataset> windowed = encode_dataset(m.tokenizer, one, {0}, m.config.data.input, {});
  ASSERT_GE(windowed->windows(0), 2);
  const Tensor p = class_probabilities(m, *windowed);
  std::vector<double> mean(2, 0.0);
  NoGradGuard no_grad;
  for (const std::vector<int32_t>& w : windowed->sequences()) {
    const TextDataset alone({w}, {});
    const std::vector<float> l = m.model->forward(alone.batch({0}, {})).logits.value().to_vector();
    for (int k = 0; k < 2; ++k) mean[size_t(k)] += double(l[size_t(k)]) / double(windowed->windows(0));
  }
  const double z = std::exp(mean[0]) + std::exp(mean[1]);
  EXPECT_NEAR(p.f32()[0], std::exp(mean[0]) / z, 1e-5);
  EXPECT_GT(p.f32()[0], 0.5) << "'offer'";
  const test::CliResult p1 = test::run_cli({"predict", "--checkpoint", r.best_path, "--text", one.fields[0][1],
                                            "--json", "--top-k", "2"}, dir_);
  ASSERT_EQ(p1.exit_code, 0) << p1.err;
  EXPECT_EQ(json::parse(p1.out).at("top")[0].at("name"), "offer");
}

// `heed eval` with several checkpoints: the ensemble's loss and predictions are rebuilt here from
// each member's `predict --json` probabilities (mean probability, its cross-entropy, its argmax);
// an ensemble of one model twice is that model.
TEST_F(TextTask, EnsembleEvalAveragesTheMembersProbabilities) {
  std::vector<std::string> ckpt;
  for (int seed : {3, 4}) {
    json j = base_config(*data_);
    j["train"]["seed"] = seed;
    j["train"]["epochs"] = 1;  // members that still err, so the average decides some records
    ckpt.push_back(train_text_classifier(parse_text_classifier_config(j), out("s" + std::to_string(seed)), false).best_path);
  }
  const std::string test_file = (*data_ / "test.jsonl").string();
  std::vector<std::vector<json>> tops(2);
  for (size_t m = 0; m < 2; ++m) {
    const test::CliResult p = test::run_cli({"predict", "--checkpoint", ckpt[m], "--input", test_file, "--json",
                                             "--top-k", "2"}, dir_);
    ASSERT_EQ(p.exit_code, 0) << p.err;
    std::istringstream lines(p.out);
    for (std::string line; std::getline(lines, line);) tops[m].push_back(json::parse(line).at("top"));
  }
  std::ifstream records(test_file);
  double loss = 0;
  int64_t correct = 0, n = 0;
  for (std::string line; std::getline(records, line); ++n) {
    const std::string label = json::parse(line).at("label");
    std::map<std::string, double> mean;
    for (size_t m = 0; m < 2; ++m)
      for (const json& t : tops[m][size_t(n)]) mean[t.at("name")] += t.at("probability").get<double>() / 2;
    ASSERT_EQ(mean.size(), 2u);
    loss -= std::log(mean.at(label));
    const std::string predicted = mean.at("offer") >= mean.at("work") ? "offer" : "work";
    correct += predicted == label;
  }
  ASSERT_EQ(n, 60);
  const test::CliResult both = test::run_cli({"eval", "--checkpoint", ckpt[0], "--checkpoint", ckpt[1], "--json"}, dir_);
  ASSERT_EQ(both.exit_code, 0) << both.err;
  const json e = json::parse(both.out);
  EXPECT_NEAR(e.at("loss").get<double>(), loss / double(n), 1e-5);
  EXPECT_NEAR(e.at("accuracy").get<double>(), double(correct) / double(n), 1e-12);
  EXPECT_EQ(e.at("ensemble"), json(ckpt));
  // One model twice: the single model's report (the loss through log-softmax vs log of softmax).
  const test::CliResult one = test::run_cli({"eval", "--checkpoint", ckpt[0], "--json"}, dir_);
  const test::CliResult twice = test::run_cli({"eval", "--checkpoint", ckpt[0], "--checkpoint", ckpt[0], "--json"}, dir_);
  ASSERT_EQ(twice.exit_code, 0) << twice.err;
  const json a = json::parse(one.out), b = json::parse(twice.out);
  EXPECT_EQ(a.at("confusion_matrix"), b.at("confusion_matrix"));
  EXPECT_NEAR(a.at("loss").get<double>(), b.at("loss").get<double>(), 1e-5);
}

TEST_F(TextTask, ResumeIsBitIdentical) {
  const TextClassifierConfig c = parse_text_classifier_config(base_config(*data_));
  train_text_classifier(c, out("a"), false);
  json jb = base_config(*data_);
  jb["train"]["time_limit_minutes"] = 1e-9;
  const TextClassifierConfig b = parse_text_classifier_config(jb);
  EXPECT_EQ(train_text_classifier(b, out("b"), false).epochs_done, 1);
  EXPECT_EQ(train_text_classifier(b, out("b"), true).epochs_done, 2);
  EXPECT_EQ(train_text_classifier(b, out("b"), true).epochs_done, 3);
  const io::SafetensorsFile fa = io::read_safetensors(out("a") + "/last.safetensors");
  const io::SafetensorsFile fb = io::read_safetensors(out("b") + "/last.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i)
    if (fa.tensors[i].second.dtype() == DType::F32) {
      EXPECT_EQ(fa.tensors[i].second.to_vector(), fb.tensors[i].second.to_vector()) << fa.tensors[i].first;
    }
  EXPECT_EQ(fa.metadata.at("tokenizer"), fb.metadata.at("tokenizer"));
}

// train.ema_decay: validation runs on the averaged weights and the checkpoint's model is them
// (its loss on the validation file is the logged val_loss); the trained weights ride along as
// optimizer.unaveraged.*, and a resume through them is bit-identical.
TEST_F(TextTask, WeightAverageIsValidatedSavedAndResumedExactly) {
  json j = base_config(*data_);
  j["data"]["validation"] = (*data_ / "test.jsonl").string();
  j["train"]["ema_decay"] = 0.9;
  const train::TrainResult r = train_text_classifier(parse_text_classifier_config(j), out("a"), false);
  std::ifstream log(out("a") + "/metrics.jsonl");
  std::string line, last_line;
  while (std::getline(log, line)) last_line = line;
  const double logged = json::parse(last_line).at("val_loss").get<double>();
  LoadedTextClassifier m = load_text_classifier(train::read_checkpoint(r.last_path));
  EXPECT_NEAR(evaluate_text_file(m, (*data_ / "test.jsonl").string()).loss, logged, 1e-5 * std::max(1.0, logged));
  const train::Checkpoint ckpt = train::read_checkpoint(r.last_path);
  bool differs = false;
  for (const auto& [name, value] : ckpt.model) {
    ASSERT_TRUE(ckpt.optimizer.count("unaveraged." + name)) << name;
    differs = differs || value.to_vector() != ckpt.optimizer.at("unaveraged." + name).to_vector();
  }
  EXPECT_TRUE(differs) << "the averaged weights equal the trained ones";
  json jb = j;
  jb["train"]["time_limit_minutes"] = 1e-9;
  const TextClassifierConfig b = parse_text_classifier_config(jb);
  EXPECT_EQ(train_text_classifier(b, out("b"), false).epochs_done, 1);
  EXPECT_EQ(train_text_classifier(b, out("b"), true).epochs_done, 2);
  EXPECT_EQ(train_text_classifier(b, out("b"), true).epochs_done, 3);
  const io::SafetensorsFile fa = io::read_safetensors(r.last_path);
  const io::SafetensorsFile fb = io::read_safetensors(out("b") + "/last.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i)
    if (fa.tensors[i].second.dtype() == DType::F32) {
      EXPECT_EQ(fa.tensors[i].second.to_vector(), fb.tensors[i].second.to_vector()) << fa.tensors[i].first;
    }
}

TEST_F(TextTask, MaskedLmPretrainingThenInitFrom) {
  // Pre-train on the training texts (unlabelled), then fine-tune from it: the encoder's weights
  // and the tokenizer come from the masked-LM checkpoint, the head is new.
  json mlm = base_config(*data_);
  mlm["task"] = "masked-lm";
  mlm["model"].erase("pooling");
  mlm["data"].erase("select_metric");
  const MaskedLmConfig mc = parse_masked_lm_config(mlm);
  const train::TrainResult pre = train_masked_lm(mc, out("mlm"), false);
  EXPECT_EQ(pre.epochs_done, 3);
  EXPECT_GT(pre.best_metric, 0.0) << "masked-token accuracy";
  json fine = base_config(*data_);
  fine["train"]["init_from"] = pre.best_path;
  fine["train"]["epochs"] = 1;
  const train::TrainResult r = train_text_classifier(parse_text_classifier_config(fine), out("fine"), false);
  EXPECT_EQ(r.epochs_done, 1);
  EXPECT_EQ(io::read_safetensors(r.best_path).metadata.at("tokenizer"),
            io::read_safetensors(pre.best_path).metadata.at("tokenizer"));
  // Fill-mask through the CLI runs.
  const test::CliResult p = test::run_cli({"predict", "--checkpoint", pre.best_path, "--text", "free [MASK] winner"}, dir_);
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_CONTAINS(p.out, "[MASK] 1:");
  // heed prune takes it: with no head removed, the curve's masked-token accuracy is eval's (on
  // data.test, the config having no data.validation); half the heads removed still evaluates.
  const test::CliResult ev = test::run_cli({"eval", "--checkpoint", pre.best_path, "--json"}, dir_);
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_EQ(json::parse(ev.out).at("data"), (*data_ / "test.jsonl").string());
  const test::CliResult pr = test::run_cli({"prune", "--checkpoint", pre.best_path, "--curve", "0", "--heads", "0.5",
                                            "--out", out("mlm-pruned.safetensors"), "--json"}, dir_);
  ASSERT_EQ(pr.exit_code, 0) << pr.err;
  const json prj = json::parse(pr.out);
  EXPECT_EQ(prj.at("metric"), "masked_accuracy");
  EXPECT_DOUBLE_EQ(prj.at("curve").at(0).at("masked_accuracy").get<double>(),
                   json::parse(ev.out).at("masked_accuracy").get<double>());
  EXPECT_EQ(prj.at("removed").at("layer_heads"), json::array({1}));
  const test::CliResult pe = test::run_cli({"eval", "--checkpoint", out("mlm-pruned.safetensors"), "--json"}, dir_);
  ASSERT_EQ(pe.exit_code, 0) << pe.err;  // A masked-LM has no class to explain.
  const test::CliResult ex = test::run_cli(
      {"explain", "--checkpoint", pre.best_path, "--text", "free", "--out", out("mlm-explained")}, dir_);
  EXPECT_NE(ex.exit_code, 0);
  EXPECT_CONTAINS(ex.err, "cannot explain");
  EXPECT_FALSE(fs::exists(out("mlm-explained")));
}

TEST_F(TextTask, TrainFractionKeepsASeededPartOfTheTrainingRecords) {
  json j = base_config(*data_);
  const PreparedTextClassification all = prepare_text_classification(parse_text_classifier_config(j));
  EXPECT_EQ(all.train_data->size(), 216);  // 240 minus the 10% validation split
  EXPECT_EQ(all.validation_data->size(), 24);
  j["data"]["train_fraction"] = 0.25;
  const PreparedTextClassification part = prepare_text_classification(parse_text_classifier_config(j));
  EXPECT_EQ(part.train_data->size(), 54);
  EXPECT_EQ(part.validation_data->size(), 24);  // the validation split is not cut
  // The same seed keeps the same records.
  const PreparedTextClassification again = prepare_text_classification(parse_text_classifier_config(j));
  EXPECT_EQ(again.train_data->sequences(), part.train_data->sequences());
  j["data"]["train_fraction"] = 0.0;
  EXPECT_CONTAINS(error_of([&] { parse_text_classifier_config(j); }), "data.train_fraction");
}

TEST_F(TextTask, BenchTextTimesTheTrainingBatchesAndSavesThem) {
  const fs::path config = dir_ / "config.json";
  test::write_text(config, base_config(*data_).dump());
  const test::CliResult first = test::run_cli({"bench", "text", "--config", config.string(), "--count", "3",
                                               "--save-batches", out("batches.json"), "--json"}, dir_);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const json r = json::parse(first.out);
  EXPECT_EQ(r.at("batches"), 3);
  EXPECT_GT(r.at("train_tokens_per_s").get<double>(), 0);
  EXPECT_GT(r.at("infer_tokens_per_s").get<double>(), 0);
  // The saved batches are the plan's first three of epoch 0, padded to their longest member.
  const PreparedTextClassification run = prepare_text_classification(parse_text_classifier_config(base_config(*data_)));
  const auto plan = run.train_plan->epoch(0);
  std::ifstream in(out("batches.json"));
  const json saved = json::parse(in);
  ASSERT_EQ(saved.at("batches").size(), 3u);
  int64_t real = 0, padded = 0;
  for (size_t b = 0; b < 3; ++b) {
    const json& batch = saved.at("batches")[b];
    ASSERT_EQ(batch.at("lengths").size(), plan[b].size());
    size_t longest = 0;
    for (size_t i = 0; i < plan[b].size(); ++i) {
      const auto& seq = run.train_data->sequences()[size_t(plan[b][i])];
      EXPECT_EQ(batch.at("lengths")[i], int64_t(seq.size()));
      longest = std::max(longest, seq.size());
      real += int64_t(seq.size());
    }
    EXPECT_EQ(batch.at("tokens")[0].size(), longest);
    padded += int64_t(longest * plan[b].size());
  }
  EXPECT_EQ(r.at("real_tokens"), real);
  EXPECT_EQ(r.at("padded_tokens"), padded);
  // --batches times the saved file: the same tokens.
  const test::CliResult again = test::run_cli({"bench", "text", "--config", config.string(), "--batches",
                                               out("batches.json"), "--json"}, dir_);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out).at("real_tokens"), real);
  // A damaged batches file names itself.
  test::write_text(dir_ / "bad.json", R"({"vocab_size": 10, "classes": 2, "batches": [{"tokens": [[1, 99]], "lengths": [2], "labels": [0]}]})");
  const test::CliResult bad = test::run_cli({"bench", "text", "--config", config.string(), "--batches",
                                             out("bad.json")}, dir_);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_CONTAINS(bad.err, out("bad.json") + ": token id 99 outside the vocabulary");
  // Lengths that do not fit the tokens are named too.
  test::write_text(dir_ / "bad2.json", R"({"vocab_size": 10, "classes": 2, "batches": [{"tokens": [[1, 2]], "lengths": [3], "labels": [0]}]})");
  const test::CliResult bad2 = test::run_cli({"bench", "text", "--config", config.string(), "--batches",
                                              out("bad2.json")}, dir_);
  EXPECT_EQ(bad2.exit_code, 1);
  EXPECT_CONTAINS(bad2.err, out("bad2.json") + ": length 3 outside [1, 2]");
  // A windowed config: timed on its windows (every real token counted once) and saved as
  // tokens [B, W, T] and lengths [B, W] (0 for a record's missing windows), read back the same.
  json windowed = base_config(*data_);
  windowed["data"]["max_tokens"] = 8;
  windowed["data"]["max_windows"] = 4;
  test::write_text(dir_ / "windowed.json", windowed.dump());
  const test::CliResult w = test::run_cli({"bench", "text", "--config", out("windowed.json"), "--count", "2",
                                           "--save-batches", out("w.json"), "--json"}, dir_);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const PreparedTextClassification wrun = prepare_text_classification(parse_text_classifier_config(windowed));
  const std::vector<std::vector<int64_t>> wplan = wrun.train_plan->epoch(0);
  int64_t wreal = 0;
  std::ifstream win(out("w.json"));
  const json wsaved = json::parse(win);
  ASSERT_EQ(wsaved.at("batches").size(), 2u);
  for (size_t b = 0; b < 2; ++b) {
    const json& batch = wsaved.at("batches")[b];
    ASSERT_EQ(batch.at("tokens").size(), wplan[b].size());
    for (size_t i = 0; i < wplan[b].size(); ++i) {
      const int64_t record = wplan[b][i];
      wreal += wrun.train_data->length(record);
      const json& lengths = batch.at("lengths")[i];
      ASSERT_EQ(lengths.size(), batch.at("tokens")[i].size());
      int64_t total = 0, present = 0;
      for (const json& n : lengths) {
        total += n.get<int64_t>();
        present += n.get<int64_t>() > 0;
      }
      EXPECT_EQ(total, wrun.train_data->length(record)) << "record " << record;
      EXPECT_EQ(present, wrun.train_data->windows(record)) << "record " << record;
      EXPECT_EQ(batch.at("tokens")[i][0][0], data::Tokenizer::kCls);
      EXPECT_LE(batch.at("tokens")[i][0].size(), 8u);
    }
  }
  EXPECT_EQ(json::parse(w.out).at("real_tokens"), wreal);
  const test::CliResult wagain = test::run_cli({"bench", "text", "--config", out("windowed.json"), "--batches",
                                                out("w.json"), "--json"}, dir_);
  ASSERT_EQ(wagain.exit_code, 0) << wagain.err;
  EXPECT_EQ(json::parse(wagain.out).at("real_tokens"), wreal);
}

TEST_F(TextTask, BadInputIsNamedBeforeAnyWork) {
  auto train_error = [&](const json& j) {
    return error_of([&] { train_text_classifier(parse_text_classifier_config(j), out("bad"), false); });
  };
  // A test label the training data never had names the file and the line.
  test::write_text(dir_ / "odd.jsonl", "{\"subject\": \"x\", \"body\": \"y\", \"label\": \"work\"}\n"
                                       "{\"subject\": \"x\", \"body\": \"y\", \"label\": \"other\"}\n");
  json j = base_config(*data_);
  j["data"]["test"] = out("odd.jsonl");
  std::string e = train_error(j);
  EXPECT_CONTAINS(e, out("odd.jsonl") + ":2: field 'label' is \"other\", not one of the classes (offer, work)");
  EXPECT_FALSE(fs::exists(out("bad") + "/last.safetensors"));
  // A missing text field.
  j = base_config(*data_);
  j["data"]["text_fields"] = {"subject", "content"};
  EXPECT_CONTAINS(train_error(j), ":1: no field 'content'");
  // A malformed line, and a label that is an array.
  test::write_text(dir_ / "broken.jsonl", "{\"subject\": \"x\", \"body\": \"y\", \"label\": \"work\"}\n{oops\n");
  j = base_config(*data_);
  j["data"]["train"] = out("broken.jsonl");
  EXPECT_CONTAINS(train_error(j), out("broken.jsonl") + ":2: not a valid JSON line");
  test::write_text(dir_ / "array.jsonl", "{\"subject\": \"x\", \"body\": \"y\", \"label\": [1]}\n");
  j["data"]["train"] = out("array.jsonl");
  EXPECT_CONTAINS(train_error(j), ":1: field 'label' is array, not a string or number");
  // Config values: max_tokens beyond the model's positions, a metric of an unknown class.
  j = base_config(*data_);
  j["data"]["max_tokens"] = 64;
  EXPECT_CONTAINS(error_of([&] { parse_text_classifier_config(j); }), "data.max_tokens (64) must be at most model.max_len (32)");
  j = base_config(*data_);
  j["data"]["tail_tokens"] = j["data"]["max_tokens"];
  EXPECT_CONTAINS(error_of([&] { parse_text_classifier_config(j); }), "data.tail_tokens (");
  j["data"]["tail_tokens"] = -1;
  EXPECT_CONTAINS(error_of([&] { parse_text_classifier_config(j); }), "data.tail_tokens");
  j = base_config(*data_);
  j["data"]["select_metric"] = "f1:spam";
  EXPECT_CONTAINS(train_error(j), "no class 'spam' (the classes are offer, work)");
  // --data is for image tasks.
  const test::CliResult r = test::run_cli({"train", "--config", "/dev/null", "--data", "x"}, dir_);
  EXPECT_EQ(r.exit_code, 1);
}

}  // namespace
}  // namespace heed::tasks
