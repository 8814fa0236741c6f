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
#include "heed/train/image_classifier.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path cli_path() {
  std::error_code error;
  const fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) return {};
  return self.parent_path().parent_path() / "heed";
}

struct RunResult {
  bool exited = false;  // WIFEXITED
  int exit_code = -1;
  int signal = 0;  // WTERMSIG when killed by a signal
  bool core_dumped = false;
  std::string err;
};

// Runs `cli args...` with stdout discarded and stderr captured, killing it after 60 s.
RunResult run_cli(const fs::path& cli, const std::vector<std::string>& args, const fs::path& err_file) {
  std::vector<std::string> argv_strings = {cli.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  RunResult r;
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    return r;
  }
  if (child == 0) {
    const int out = ::open("/dev/null", O_WRONLY);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      ADD_FAILURE() << "heed did not finish within 60 s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.core_dumped = WIFSIGNALED(status) && WCOREDUMP(status);
  std::ifstream in(err_file);
  std::stringstream text;
  text << in.rdbuf();
  r.err = text.str();
  return r;
}

Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes file = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) file.push_back(static_cast<uint8_t>((d >> shift) & 0xff));
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

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
    cli_ = cli_path();
    ASSERT_TRUE(fs::exists(cli_)) << "the heed CLI is not at " << cli_
                                  << " (next to the test binary's directory); build it first: "
                                     "`make test`, or `make -C build heed_cli`";
    dir_ = fs::path(::testing::TempDir()) /
           ("heed_cli_errors_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // A valid checkpoint of a tiny model for 8x8 grey images in 3 classes, and valid data.
    train::CheckpointInfo info;
    info.config = train::parse_config(nlohmann::json::parse(
        R"({"model": {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2},
            "data": {"eval_batch_size": 8, "class_names": ["a", "b", "c"]}})"));
    info.config.model.image_height = info.config.model.image_width = kSide;
    info.config.model.channels = 1;
    info.config.model.num_classes = 3;
    info.normalization = {{0.5f}, {0.25f}};
    nn::VisionTransformer model(info.config.model, 1);
    checkpoint_ = (dir_ / "good.safetensors").string();
    train::save_checkpoint(checkpoint_, model, info, {});
    data_ = dir_ / "data";
    fs::create_directories(data_);
    write_test_split(data_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult run(const std::vector<std::string>& args) { return run_cli(cli_, args, dir_ / "stderr.txt"); }

  fs::path cli_, dir_, data_;
  std::string checkpoint_;
};

// Exit status 1 through heed's error path, one line on stderr naming `file` and `problem`.
#define EXPECT_CLEAN_ERROR(result, file, problem)                                                  \
  do {                                                                                             \
    const RunResult& r_ = (result);                                                                \
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
  const RunResult r = run({"eval", "--checkpoint", checkpoint_, "--data", data_.string()});
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
  const RunResult r = run({"train", "--config", config, "--data", data_.string(), "--out", out.string()});
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
