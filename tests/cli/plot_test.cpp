// `heed plot`: curves of runs' metrics.jsonl as a PNG, and the errors a bad run directory gets.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "cli_util.h"
#include "heed/data/image_file.h"
#include "heed/interpret/curves.h"
#include "test_files.h"

namespace heed {
namespace {

namespace fs = std::filesystem;

class Plot : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("heed_plot_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "a");
    fs::create_directories(dir_ / "b");
    // A mid-epoch progress row (no "epoch") is skipped; a missing value leaves a gap.
    test::write_text(dir_ / "a" / "metrics.jsonl",
                     "{\"step\": 5, \"train_loss\": 3.0}\n"
                     "{\"epoch\": 1, \"train_loss\": 1.0, \"val_loss\": 1.2, \"val_accuracy\": 0.5}\n"
                     "{\"epoch\": 2, \"train_loss\": 0.5, \"val_accuracy\": 0.7}\n");
    test::write_text(dir_ / "b" / "metrics.jsonl",
                     "{\"epoch\": 1, \"train_loss\": 2.0, \"val_loss\": 1.0, \"val_f1_spam\": 0.9}\n");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Plot, ReadsEpochRowsAndDrawsEveryRun) {
  const interpret::RunCurves a = interpret::read_run_curves((dir_ / "a").string() + "/");
  EXPECT_EQ(a.label, "a");
  EXPECT_EQ(a.metric, "val_accuracy");
  EXPECT_EQ(a.epoch, (std::vector<double>{1, 2}));
  EXPECT_EQ(a.train_loss, (std::vector<double>{1.0, 0.5}));
  EXPECT_EQ(a.val_loss[0], 1.2);
  EXPECT_TRUE(std::isnan(a.val_loss[1]));
  const fs::path png = dir_ / "curves.png";
  const test::CliResult r = test::run_cli(
      {"plot", (dir_ / "a").string(), (dir_ / "b").string(), "--out", png.string()}, dir_);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tensor image = data::read_image(png.string());
  EXPECT_EQ(image.size(0), 3);
  EXPECT_GE(image.size(2), 900);  // three panels
  EXPECT_FALSE(fs::exists(png.string() + ".tmp"));
}

TEST_F(Plot, BadRunsAreNamed) {
  test::write_text(dir_ / "b" / "metrics.jsonl", "{\"epoch\": 1}\n{oops\n");
  const test::CliResult bad = test::run_cli({"plot", (dir_ / "b").string(), "--out", (dir_ / "x.png").string()}, dir_);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("metrics.jsonl:2: not JSON"), std::string::npos) << bad.err;
  const test::CliResult none = test::run_cli({"plot", (dir_ / "nowhere").string()}, dir_);
  EXPECT_NE(none.err.find("no metrics.jsonl"), std::string::npos) << none.err;
  test::write_text(dir_ / "b" / "metrics.jsonl", "{\"epoch\": \"one\"}\n");
  const test::CliResult word = test::run_cli({"plot", (dir_ / "b").string(), "--out", (dir_ / "x.png").string()}, dir_);
  EXPECT_NE(word.err.find("metrics.jsonl:1: \"epoch\" is not a number"), std::string::npos) << word.err;
  EXPECT_FALSE(fs::exists(dir_ / "x.png"));
}

}  // namespace
}  // namespace heed
