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

// Runs `heed args...` with stdout and stderr captured in files under `scratch`, extra
// environment variables set, killing it after `timeout_s`. OMP_NUM_THREADS defaults to 1.
inline CliResult run_cli(const std::vector<std::string>& args, const std::filesystem::path& scratch,
                         const std::vector<std::pair<std::string, std::string>>& env = {},
                         int timeout_s = 120) {
  const std::filesystem::path cli = cli_path();
  EXPECT_TRUE(std::filesystem::exists(cli)) << "the heed CLI is not at " << cli << "; build it first";
  std::vector<std::string> argv_strings = {cli.string()};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  const std::filesystem::path out_file = scratch / "cli.stdout", err_file = scratch / "cli.stderr";
  CliResult r;
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    return r;
  }
  if (child == 0) {
    const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
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
  r.out = read_text(out_file);
  r.err = read_text(err_file);
  return r;
}

}  // namespace heed::test
