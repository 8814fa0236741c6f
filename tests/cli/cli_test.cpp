// The `heed` command line's success paths, end to end through the binary: train with --set
// overrides, resume, eval --json, predict on PNG (RGB), odd-sized PGM and IDX, info. Each output
// is checked against the library called in-process (load_model, evaluate, forward) on inputs
// prepared here independently (BT.601 grey, integer-factor resizes whose bilinear samples are
// exact), so a CLI that converts, normalises or reports differently fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_util.h"
#include "heed/core/version.h"
#include "heed/data/idx.h"
#include "heed/data/loader.h"
#include "heed/io/safetensors.h"
#include "heed/kernels/simd.h"
#include "heed/metrics/classification.h"
#include "heed/ops/ops.h"
#include "heed/tasks/image_classification.h"
#include "test_files.h"
#include "test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kSide = 9;  // odd, so an odd-sized input can be an exact 3x resize

const char* kConfig = R"({
  "model": {"patch_size": 3, "dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
  "train": {"epochs": 2, "batch_size": 30, "lr": 0.01, "min_lr": 0.0001, "warmup_epochs": 0.5,
            "seed": 5, "threads": 1, "log_every": 1000},
  "data": {"validation_fraction": 0.2, "eval_batch_size": 50}
})";

// One trained run shared by the tests (training is the slow part).
class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::path(::testing::TempDir()) / ("heed_cli_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    fs::create_directories(*dir_ / "data");
    test::write_image_split(*dir_ / "data", "train", 150, 1, kSide);
    *test_ = test::write_image_split(*dir_ / "data", "t10k", 30, 2, kSide);
    test::write_text(*dir_ / "config.json", kConfig);
    const test::CliResult r = test::run_cli(
        {"train", "--config", (*dir_ / "config.json").string(), "--data", (*dir_ / "data").string(),
         "--out", (*dir_ / "run").string(), "--set", "model.dim=12", "--set",
         R"(data.class_names=["top left","centre","bottom right"])"},
        *dir_);
    *train_result_ = r;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path checkpoint() { return *dir_ / "run" / "best.safetensors"; }

  static fs::path* dir_;
  static test::ImageSplit* test_;
  static test::CliResult* train_result_;
};
fs::path* Cli::dir_ = nullptr;
test::ImageSplit* Cli::test_ = new test::ImageSplit;
test::CliResult* Cli::train_result_ = new test::CliResult;

// Softmax probabilities of the checkpoint's model on [N, 1, H, W] images in [0, 1], computed
// in-process: normalised with the checkpoint's statistics, then forward.
std::vector<std::vector<float>> probabilities(const fs::path& ckpt, Tensor images) {
  tasks::LoadedModel m = tasks::load_model(ckpt.string());
  data::normalize_inplace(images, m.info.normalization);
  NoGradGuard no_grad;
  const Tensor p = softmax(m.model->forward(Var(images))).value();
  std::vector<std::vector<float>> out;
  for (int64_t i = 0; i < p.size(0); ++i) out.emplace_back(p.f32() + i * p.size(1), p.f32() + (i + 1) * p.size(1));
  return out;
}

// predict --json's probabilities, in class order, per image.
std::vector<std::vector<float>> predicted(const std::string& stdout_text, size_t classes) {
  const json j = json::parse(stdout_text);
  std::vector<std::vector<float>> out;
  for (const json& p : j.at("predictions")) {
    std::vector<float> row(classes, -1.f);
    float previous = 2.f;
    for (const json& t : p.at("top")) {
      const float prob = t.at("probability").get<float>();
      EXPECT_LE(prob, previous) << "top-k must be sorted by probability";
      previous = prob;
      row.at(t.at("class").get<size_t>()) = prob;
    }
    out.push_back(row);
  }
  return out;
}

TEST_F(Cli, TrainAppliesSetOverridesAndReports) {
  const test::CliResult& r = *train_result_;
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  // --set reached the model and the class names; the resolved config is in the checkpoint.
  const io::SafetensorsFile f = io::read_safetensors(checkpoint().string());
  const json config = json::parse(f.metadata.at("config"));
  EXPECT_EQ(config["model"]["dim"], 12);
  EXPECT_EQ(config["data"]["class_names"], json::parse(R"(["top left","centre","bottom right"])"));
  EXPECT_EQ(config["model"]["image_height"], kSide);
  // Two epochs: two JSONL lines with the documented fields; best and last written.
  std::istringstream log(test::read_text(*dir_ / "run" / "metrics.jsonl"));
  int lines = 0;
  for (std::string line; std::getline(log, line); ++lines)
    for (const char* key : {"epoch", "step", "train_loss", "val_loss", "val_accuracy", "lr", "seconds"})
      EXPECT_TRUE(json::parse(line).contains(key)) << key;
  EXPECT_EQ(lines, 2);
  EXPECT_TRUE(fs::exists(*dir_ / "run" / "last.safetensors"));
  // The test-set report on stdout, in scikit-learn's layout with the names given.
  EXPECT_NE(r.out.find("precision    recall  f1-score   support"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bottom right"), std::string::npos) << r.out;
}

TEST_F(Cli, EvalJsonMatchesEvaluate) {
  const test::CliResult r = test::run_cli({"eval", "--checkpoint", checkpoint().string(), "--data",
                                           (*dir_ / "data").string(), "--json"},
                                          *dir_);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const json got = json::parse(r.out);
  tasks::LoadedModel m = tasks::load_model(checkpoint().string());
  data::ImageSet set = data::load_idx_split((*dir_ / "data").string(), "t10k");
  data::normalize_inplace(set.images, m.info.normalization);
  const train::EvalResult e = tasks::evaluate(*m.model, set.images, set.labels, 7, m.info.config.data.class_names);
  json want = e.json;
  EXPECT_EQ(got.at("images"), 30);
  EXPECT_NEAR(got.at("loss").get<double>(), e.loss, 1e-6);
  want.erase("loss");
  for (auto it = want.begin(); it != want.end(); ++it) EXPECT_EQ(got.at(it.key()), it.value()) << it.key();
  // Without --json: the same report as text, then the confusion matrix.
  const test::CliResult text = test::run_cli(
      {"eval", "--checkpoint", checkpoint().string(), "--data", (*dir_ / "data").string()}, *dir_);
  EXPECT_EQ(text.out, e.text);
}

// heed prune --fine-tune-steps with --json: stdout is the one JSON report; the fine-tune's
// own test report goes to stderr.
TEST_F(Cli, PruneFineTuneJsonKeepsStdoutOneDocument) {
  const std::string out = (*dir_ / "pruned.safetensors").string();
  const test::CliResult r = test::run_cli({"prune", "--checkpoint", checkpoint().string(), "--heads", "0.5", "--out",
                                           out, "--fine-tune-steps", "3", "--samples", "20", "--json"},
                                          *dir_);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("removed").at("fine_tune_run"), out + ".fine-tune");
  EXPECT_EQ(j.at("removed").at("layer_heads"), json::array({1}));
  EXPECT_CONTAINS(r.err, "fine-tuning " + out + " for 3 steps");
  EXPECT_CONTAINS(r.err, "Test set");
  EXPECT_TRUE(fs::exists(out + ".fine-tune/best.safetensors"));
}

TEST_F(Cli, PredictRgbPngMatchesForwardOnItsLuma) {
  // A colour PNG whose channels differ, so swapping R and B in the conversion changes the grey.
  const test::ImageSplit& t = *test_;
  test::PngSpec spec{kSide, kSide, PNG_COLOR_TYPE_RGB};
  Tensor grey = Tensor::empty({1, 1, kSide, kSide});
  for (int y = 0; y < kSide; ++y) {
    test::Bytes row;
    for (int x = 0; x < kSide; ++x) {
      const int v = t.images[size_t(y * kSide + x)];  // test image 0 (class 0)
      const uint8_t rgb[3] = {uint8_t(std::min(255, v + 40)), uint8_t(v), uint8_t(std::max(0, v - 60))};
      row.insert(row.end(), rgb, rgb + 3);
      grey.f32()[y * kSide + x] = (0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]) / 255.f;
    }
    spec.rows.push_back(row);
  }
  const std::string png = (*dir_ / "colour.png").string();
  test::write_png(png, spec);
  const test::CliResult r = test::run_cli(
      {"predict", "--checkpoint", checkpoint().string(), "--input", png, "--top-k", "3", "--json"}, *dir_);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const auto got = predicted(r.out, 3), want = probabilities(checkpoint(), grey);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(test::all_close(got[0], want[0], 1e-6, 1e-5));
  // Top-1 only, and the text form names the class.
  const test::CliResult top1 = test::run_cli(
      {"predict", "--checkpoint", checkpoint().string(), "--input", png, "--top-k", "1"}, *dir_);
  const int64_t best = std::max_element(want[0].begin(), want[0].end()) - want[0].begin();
  const char* names[] = {"top left", "centre", "bottom right"};
  EXPECT_NE(top1.out.find(names[best]), std::string::npos) << top1.out;
  EXPECT_EQ(std::count(top1.out.begin(), top1.out.end(), '\n'), 1) << top1.out;
}

TEST_F(Cli, PredictOddSizedPgmIsResizedToTheModel) {
  // 27 x 9 (width x height): test image 1 with every column repeated 3 times. A half-pixel
  // bilinear resize to 9 x 9 samples column 3x + 1 exactly, so the model sees image 1 itself.
  const test::ImageSplit& t = *test_;
  std::string pgm = "P5\n27 9\n255\n";
  Tensor want_input = Tensor::empty({1, 1, kSide, kSide});
  for (int y = 0; y < kSide; ++y)
    for (int x = 0; x < 27; ++x) {
      const uint8_t v = t.images[size_t(kSide * kSide + y * kSide + x / 3)];
      pgm.push_back(char(v));
      if (x % 3 == 0) want_input.f32()[y * kSide + x / 3] = float(v) / 255.f;
    }
  const std::string path = (*dir_ / "wide.pgm").string();
  test::write_text(path, pgm);
  const test::CliResult r = test::run_cli(
      {"predict", "--checkpoint", checkpoint().string(), "--input", path, "--json"}, *dir_);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const auto got = predicted(r.out, 3), want = probabilities(checkpoint(), want_input);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(test::all_close(got[0], want[0], 1e-6, 1e-5));
}

TEST_F(Cli, PredictIdxGivesEveryImage) {
  const std::string idx = (*dir_ / "data" / "t10k-images-idx3-ubyte.gz").string();
  const test::CliResult r = test::run_cli(
      {"predict", "--checkpoint", checkpoint().string(), "--input", idx, "--top-k", "3", "--json"}, *dir_);
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  Tensor images = Tensor::empty({30, 1, kSide, kSide});
  for (int64_t i = 0; i < images.numel(); ++i) images.f32()[i] = float(test_->images[size_t(i)]) / 255.f;
  const auto got = predicted(r.out, 3), want = probabilities(checkpoint(), images);
  ASSERT_EQ(got.size(), 30u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(test::all_close(got[i], want[i], 1e-6, 1e-5)) << i;
}

TEST_F(Cli, ResumeThroughTheCliEqualsAnUninterruptedRun) {
  // Run B stops after its first epoch (a time limit of 0.06 ms is over once an epoch has run),
  // then --resume finishes it: the last checkpoint must equal run A's byte for byte.
  const std::string config = (*dir_ / "config.json").string(), data = (*dir_ / "data").string();
  const std::string a = (*dir_ / "resume-a").string(), b = (*dir_ / "resume-b").string();
  ASSERT_EQ(test::run_cli({"train", "--config", config, "--data", data, "--out", a}, *dir_).exit_code, 0);
  const test::CliResult first = test::run_cli(
      {"train", "--config", config, "--data", data, "--out", b, "--set", "train.time_limit_minutes=0.000001"},
      *dir_);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_NE(first.err.find("time limit"), std::string::npos) << first.err;
  const test::CliResult second =
      test::run_cli({"train", "--config", config, "--data", data, "--out", b, "--resume"}, *dir_);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.err.find("resuming from"), std::string::npos) << second.err;
  const io::SafetensorsFile fa = io::read_safetensors(a + "/last.safetensors");
  const io::SafetensorsFile fb = io::read_safetensors(b + "/last.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i) {
    EXPECT_EQ(fa.tensors[i].first, fb.tensors[i].first);
    const Tensor& x = fa.tensors[i].second;
    const Tensor& y = fb.tensors[i].second;
    if (x.dtype() == DType::F32) {
      EXPECT_EQ(x.to_vector(), y.to_vector()) << fa.tensors[i].first;
    }
  }
  // The metrics log holds both epochs once each.
  std::istringstream log(test::read_text(b + "/metrics.jsonl"));
  std::vector<int> epochs;
  for (std::string line; std::getline(log, line);) epochs.push_back(json::parse(line)["epoch"]);
  EXPECT_EQ(epochs, (std::vector<int>{1, 2}));
}

TEST_F(Cli, InfoSaysWhatItRunsOn) {
  const test::CliResult r = test::run_cli({"info"}, *dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(std::string("heed ") + version() + "\n", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("SIMD kernels: " + kernels::simd::chosen_target() + " (compiled: "), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("GEMM: oneDNN sgemm"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("threads: 1\n"), std::string::npos) << r.out;  // run_cli sets OMP_NUM_THREADS=1
  EXPECT_NE(r.out.find("OpenMP wait policy: "), std::string::npos) << r.out;
  const test::CliResult limited = test::run_cli({"info"}, *dir_, {{"HEED_SIMD", "sse4"}});
  EXPECT_NE(limited.out.find("SIMD kernels: SSE4 ("), std::string::npos) << limited.out;
}

}  // namespace
}  // namespace heed
