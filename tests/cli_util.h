// Runs the `heed` binary from tests: found next to the test binary's directory
// (<build>/tests/heed_tests -> <build>/heed; `make test` builds both).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "heed/nn/models/vit.h"
#include "heed/tasks/image_classification.h"
#include "test_files.h"

namespace heed::test {

inline std::filesystem::path cli_path() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return {};
  return self.parent_path().parent_path() / "heed";
}

struct CliResult {
  bool exited = false;  // WIFEXITED
  int exit_code = -1;
  int signal = 0;  // WTERMSIG when killed by a signal
  bool core_dumped = false;
  std::string out, err;
};

// Starts `heed args...` in the background: stdout to `out_path`, stderr to `err_path`, extra
// environment variables set, in the working directory `cwd` unless empty. OMP_NUM_THREADS
// defaults to 1. Returns the child's pid (or -1, with a test failure).
inline pid_t start_cli(const std::vector<std::string>& args, const std::filesystem::path& out_path,
                       const std::filesystem::path& err_path,
                       const std::vector<std::pair<std::string, std::string>>& env = {},
                       const std::filesystem::path& cwd = {}) {
  const std::filesystem::path cli = cli_path();
  EXPECT_TRUE(std::filesystem::exists(cli)) << "the heed CLI is not at " << cli << "; build it first";
  std::vector<std::string> argv_strings = {cli.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::string out_s = out_path.string(), err_s = err_path.string(), cwd_s = cwd.string();
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    return child;
  }
  if (child == 0) {
    const int out = ::open(out_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_s.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    if (!cwd_s.empty() && ::chdir(cwd_s.c_str()) != 0) ::_exit(125);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return child;
}

// Waits for `child` (SIGKILL and a failure after `timeout_s`); stdout is read only when
// `out_path` is a regular file (never /dev/full).
inline CliResult finish_cli(pid_t child, const std::filesystem::path& out_path,
                            const std::filesystem::path& err_path, int timeout_s) {
  CliResult r;
  if (child <= 0) return r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (::waitpid(child, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      ADD_FAILURE() << "heed did not finish within " << timeout_s << " s";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exited = WIFEXITED(status);
  r.exit_code = r.exited ? WEXITSTATUS(status) : -1;
  r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  r.core_dumped = WIFSIGNALED(status) && WCOREDUMP(status);
  if (std::filesystem::is_regular_file(out_path)) r.out = read_text(out_path);
  r.err = read_text(err_path);
  return r;
}

// Runs `heed args...` with stdout and stderr captured in files under `scratch`, extra
// environment variables set, killing it after `timeout_s`. OMP_NUM_THREADS defaults to 1.
inline CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                         const std::vector<std::pair<std::string, std::string>>& env = {},
                         int timeout_s = 120) {
  const std::filesystem::path out_file = scratch / "cli.stdout", err_file = scratch / "cli.stderr";
  return finish_cli(start_cli(args, out_file, err_file, env), out_file, err_file, timeout_s);
}

// A valid checkpoint of a tiny ViT (patch 4, dim 16, depth 1, 2 heads) for `side` x `side`
// images with `channels` channels in the 3 classes "a", "b", "c", written by the library.
inline void write_tiny_vit_checkpoint(const std::string& path, int64_t side, int64_t channels = 1) {
  tasks::CheckpointInfo info;
  info.config = tasks::parse_config(nlohmann::json::parse(
      R"({"model": {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2},
          "data": {"eval_batch_size": 8, "class_names": ["a", "b", "c"]}})"));
  info.config.model.image_height = info.config.model.image_width = side;
  info.config.model.channels = channels;
  info.config.model.num_classes = 3;
  info.normalization = {std::vector<float>(size_t(channels), 0.5f), std::vector<float>(size_t(channels), 0.25f)};
  nn::VisionTransformer model(info.config.model, 1);
  tasks::save_checkpoint(path, model, info, {});
}

}  // namespace heed::test
