// The `heed` command line on hostile inputs: a truncated checkpoint, corrupt IDX data, a config
// with an unknown key or broken JSON, a file that is not an image. Each must end with exit status 1
// through the error path (not a signal, not a core dump, not "unexpected error" from some other
// exception type), printing one line on stderr that names the file and the problem.
//
// The CLI binary is found next to the test binary: <build>/tests/heed_tests -> <build>/heed
// (`make test` builds both). Without it the tests fail, saying so.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "heed/nn/models/vit.h"
#include "heed/tasks/image_classification.h"
#include "cli_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::CliResult;
using test::idx_file;
using test::write_bytes;
using test::write_text;

constexpr int kImages = 12, kSide = 8;

// Valid t10k-* files of kImages 8x8 grey images in 3 classes.
void write_test_split(const fs::path& dir) {
  Bytes images(kImages * kSide * kSide), labels;
  for (size_t i = 0; i < images.size(); ++i) images[i] = static_cast<uint8_t>(i * 37 % 256);
  for (int i = 0; i < kImages; ++i) labels.push_back(static_cast<uint8_t>(i % 3));
  write_bytes(dir / "t10k-images-idx3-ubyte", idx_file({kImages, kSide, kSide}, images));
  write_bytes(dir / "t10k-labels-idx1-ubyte", idx_file({kImages}, labels));
}

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(test::cli_path())) << "the heed CLI is not at " << test::cli_path()
                                              << " (next to the test binary's directory); build it "
                                                 "first: `make test`, or `make -C build heed_cli`";
    dir_ = fs::path(::testing::TempDir()) /
           ("heed_cli_errors_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A valid checkpoint of a tiny model for 8x8 grey images in 3 classes, and valid data.
    checkpoint_ = (dir_ / "good.safetensors").string();
    test::write_tiny_vit_checkpoint(checkpoint_, kSide);
    data_ = dir_ / "data";
    fs::create_directories(data_);
    write_test_split(data_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliResult run(const std::vector<std::string>& args) { return test::run_cli(args, dir_, {}, 60); }

  fs::path dir_, data_;
  std::string checkpoint_;
};

// Exit status 1 through heed's error path, one line on stderr naming `file` and `problem`, and
// nothing on stdout (no half-printed report).
#define EXPECT_CLEAN_ERROR(result, file, problem)                                                  \
  do {                                                                                             \
    const CliResult& r_ = (result);                                                                \
    EXPECT_EQ(r_.out, "") << "stdout of a failed command";                                         \
    EXPECT_TRUE(r_.exited) << "heed was killed by signal " << r_.signal                            \
                           << (r_.core_dumped ? " (core dumped)" : "") << "; stderr: " << r_.err;  \
    EXPECT_EQ(r_.exit_code, 1) << "stderr: " << r_.err;                                            \
    EXPECT_EQ(r_.err.rfind("heed: error: ", 0), 0u) << "stderr: " << r_.err;                       \
    EXPECT_EQ(r_.err.find("unexpected error"), std::string::npos) << r_.err;                       \
    EXPECT_EQ(std::count(r_.err.begin(), r_.err.end(), '\n'), 1) << "not one line: " << r_.err;    \
    EXPECT_NE(r_.err.find(file), std::string::npos) << "the file is not named: " << r_.err;        \
    EXPECT_NE(r_.err.find(problem), std::string::npos) << "the problem is not named: " << r_.err;  \
  } while (0)

TEST_F(CliErrors, SetupIsValid) {
  // The fixtures themselves work: the hostile cases below fail for their own reason.
  const CliResult r = run({"eval", "--checkpoint", checkpoint_, "--data", data_.string()});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << "status " << r.exit_code << ", signal " << r.signal
                                            << ", stderr: " << r.err;
}

TEST_F(CliErrors, TruncatedCheckpointToEval) {
  const std::string truncated = (dir_ / "truncated.safetensors").string();
  fs::copy_file(checkpoint_, truncated);
  fs::resize_file(truncated, fs::file_size(checkpoint_) - 100);
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", truncated, "--data", data_.string()}), truncated,
                     "beyond the data section");
  // Cut inside the header, and inside the 8-byte length.
  fs::resize_file(truncated, 200);
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", truncated, "--data", data_.string()}), truncated,
                     "extends beyond the file");
  fs::resize_file(truncated, 5);
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", truncated, "--data", data_.string()}), truncated,
                     "shorter than the 8-byte header length");
  const std::string absent = (dir_ / "absent.safetensors").string();
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", absent, "--data", data_.string()}), absent,
                     "No such file");
}

// Only tasks whose eval averages members take several checkpoints; the image task says so
// before reading any data.
TEST_F(CliErrors, SeveralCheckpointsToAnImageEval) {
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--checkpoint", checkpoint_, "--data", data_.string()}),
                     checkpoint_, "one checkpoint at a time");
}

TEST_F(CliErrors, BeamToAnImageEval) {
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--beam", "4", "--data", data_.string()}), checkpoint_,
                     "--beam is for checkpoints that generate text");
}

TEST_F(CliErrors, CorruptIdxToEval) {
  const fs::path bad = dir_ / "bad-data";
  fs::create_directories(bad);
  write_test_split(bad);
  const std::string images = (bad / "t10k-images-idx3-ubyte").string();
  // Payload shorter than the header claims.
  fs::resize_file(images, fs::file_size(images) - 10);
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--data", bad.string()}), images,
                     "but the file holds");
  // Not an IDX file at all.
  write_text(images, "<html>not found</html>");
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--data", bad.string()}), images,
                     "not an IDX file");
  // Corrupt gzip (preferred over the raw file when both exist).
  const std::string gz = (bad / "t10k-images-idx3-ubyte.gz").string();
  write_bytes(gz, {0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0xef, 0x00, 0x11});
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--data", bad.string()}), gz, "gzip");
  // Labels that do not match the images.
  fs::remove(gz);
  write_test_split(bad);
  const std::string labels = (bad / "t10k-labels-idx1-ubyte").string();
  write_bytes(labels, idx_file({kImages - 1}, Bytes(kImages - 1, 0)));
  EXPECT_CLEAN_ERROR(run({"eval", "--checkpoint", checkpoint_, "--data", bad.string()}), labels,
                     "labels");
}

TEST_F(CliErrors, UnknownConfigKeyToTrain) {
  const std::string config = (dir_ / "typo.json").string();
  write_text(config, R"({"model": {"dim": 16, "heads": 2}, "train": {"lerning_rate": 0.1}})");
  const fs::path out = dir_ / "run";
  const CliResult r = run({"train", "--config", config, "--data", data_.string(), "--out", out.string()});
  EXPECT_CLEAN_ERROR(r, config, "unknown key 'train.lerning_rate'");
  EXPECT_FALSE(fs::exists(out)) << "the config must fail before any work";
  // A JSON syntax error names the file and the position.
  write_text(config, R"({"train": {"epochs": 3,}})");
  EXPECT_CLEAN_ERROR(run({"train", "--config", config, "--data", data_.string(), "--out", out.string()}),
                     config, "not valid JSON");
  // A wrong type names the key.
  write_text(config, R"({"train": {"epochs": "three"}})");
  EXPECT_CLEAN_ERROR(run({"train", "--config", config, "--data", data_.string(), "--out", out.string()}),
                     "train.epochs", "must be an integer");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(CliErrors, NonImageToPredict) {
  const std::string notes = (dir_ / "notes.txt").string();
  write_text(notes, "hello, this is not an image\n");
  EXPECT_CLEAN_ERROR(run({"predict", "--checkpoint", checkpoint_, "--input", notes}), notes,
                     "unknown image format");
  // A PNG cut short, and a PGM whose pixels exceed maxval.
  const std::string png = (dir_ / "cut.png").string();
  write_bytes(png, {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0});
  EXPECT_CLEAN_ERROR(run({"predict", "--checkpoint", checkpoint_, "--input", png}), png, "invalid PNG");
  const std::string pgm = (dir_ / "over.pgm").string();
  write_text(pgm, "P2 2 1 10\n3 11\n");
  EXPECT_CLEAN_ERROR(run({"predict", "--checkpoint", checkpoint_, "--input", pgm}), pgm,
                     "pixel value 11 exceeds maxval 10");
  // And the checkpoint side of predict.
  const std::string truncated = (dir_ / "truncated.safetensors").string();
  fs::copy_file(checkpoint_, truncated);
  fs::resize_file(truncated, fs::file_size(checkpoint_) / 2);
  EXPECT_CLEAN_ERROR(run({"predict", "--checkpoint", truncated, "--input", pgm}), truncated,
                     "beyond the data section");
}

}  // namespace
}  // namespace heed
