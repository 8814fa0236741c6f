// Crash safety of checkpoint writes (heed::io::write_safetensors -> write_file_atomic: temp file,
// fsync, rename over the target, fsync of the directory).
//
// Deterministic part: a forked child overwrites a checkpoint holding version 1 with version 2
// and kills itself with SIGKILL at one of write_file_atomic's fail points (HEED_FAILPOINT: after
// creating the temporary file, half-way through writing it, after syncing it, after renaming
// it). Before the rename the path must still hold version 1, complete, and the temporary file is
// left behind; after it, version 2, complete, with nothing left over. No timing is involved.
//
// Random part: a child writes checkpoints in a loop and the parent SIGKILLs it after seeded
// random delays. Wherever a kill lands, the file at the path must parse and hold exactly one
// version, complete; how many kills landed inside a write depends on the machine's speed and is
// only recorded, never asserted (the fail points above cover every window for certain).
//
// What SIGKILL leaves behind: a write interrupted between creating and renaming its temporary
// file leaves that file, `<path>.tmp.<pid>.<16 hex digits>`, in the directory (heed never
// deletes other processes' temporaries; `*.tmp.*` is in .gitignore). It is never mistaken for
// the checkpoint: readers open the exact path only.
//
// A power cut is not simulated here (it needs a VM or a file system that can drop unsynced
// writes); the fsyncs are what makes the rename durable there (docs/reliability.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "heed/core/tensor.h"
#include "heed/io/safetensors.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ~3.6 MB per checkpoint: two f32 tensors and one i64 tensor, plus a 2-element check tensor.
constexpr int64_t kBig = 640 * 1024, kMedium = 256 * 1024 + 3, kIndices = 33 * 1024;
constexpr int kKills = 20;
constexpr uint64_t kSeed = 20240611;

// A value derived from the version, so that a tensor holding another version's bytes, or zeros
// (a hole in a half-written file), is caught even where the version itself matches by chance.
int64_t check_of(int64_t version) { return (version * 2654435761LL) % 1000003 + 1; }

std::vector<std::pair<std::string, Tensor>> checkpoint_tensors(int64_t version) {
  Tensor big = Tensor::empty({kBig}), medium = Tensor::empty({kMedium, 1});
  Tensor indices = Tensor::empty({kIndices}, DType::I64), check = Tensor::empty({2}, DType::I64);
  std::fill_n(big.f32(), kBig, static_cast<float>(version));
  std::fill_n(medium.f32(), kMedium, -static_cast<float>(version));
  std::fill_n(indices.i64(), kIndices, check_of(version));
  check.i64()[0] = version;
  check.i64()[1] = check_of(version);
  return {{"check", check}, {"big", big}, {"medium", medium}, {"indices", indices}};
}

void write_checkpoint(const std::string& path, int64_t version) {
  io::write_safetensors(path, checkpoint_tensors(version), {{"version", std::to_string(version)}});
}

// Reads the checkpoint at `path` and returns its version after checking every element; any
// inconsistency is a test failure (and returns -1).
int64_t verified_version(const std::string& path) {
  io::SafetensorsFile file;
  try {
    file = io::read_safetensors(path);
  } catch (const Error& e) {
    ADD_FAILURE() << "the checkpoint at the path does not parse: " << e.what();
    return -1;
  }
  if (file.tensors.size() != 4 || !file.metadata.count("version") || !file.contains("check") ||
      !file.contains("big") || !file.contains("medium") || !file.contains("indices")) {
    ADD_FAILURE() << "the checkpoint has the wrong tensors or metadata";
    return -1;
  }
  const int64_t version = std::stoll(file.metadata.at("version"));
  const Tensor& check = file.get("check");
  const Tensor& big = file.get("big");
  const Tensor& medium = file.get("medium");
  const Tensor& indices = file.get("indices");
  if (check.numel() != 2 || big.numel() != kBig || medium.numel() != kMedium ||
      indices.numel() != kIndices) {
    ADD_FAILURE() << "version " << version << ": tensors of the wrong size";
    return -1;
  }
  const int64_t bad_check = (check.i64()[0] != version) + (check.i64()[1] != check_of(version));
  const int64_t bad_big = std::count_if(big.f32(), big.f32() + big.numel(),
                                        [&](float v) { return v != static_cast<float>(version); });
  const int64_t bad_medium = std::count_if(medium.f32(), medium.f32() + medium.numel(),
                                           [&](float v) { return v != -static_cast<float>(version); });
  const int64_t bad_indices = std::count_if(indices.i64(), indices.i64() + indices.numel(),
                                            [&](int64_t v) { return v != check_of(version); });
  if (bad_check + bad_big + bad_medium + bad_indices != 0) {
    ADD_FAILURE() << "version " << version << " is mixed: " << bad_check << " check, " << bad_big
                  << " big, " << bad_medium << " medium, " << bad_indices << " index elements differ";
    return -1;
  }
  return version;
}

// `<name>.tmp.<pid>.<16 lowercase hex digits>`, as write_file_atomic names its temporary files.
bool is_temporary_name(const std::string& file, const std::string& name) {
  const std::string prefix = name + ".tmp.";
  if (file.rfind(prefix, 0) != 0) return false;
  const std::string rest = file.substr(prefix.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string::npos || rest.size() - dot - 1 != 16) return false;
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  const auto is_hex = [&](char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); };
  return std::all_of(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(dot), is_digit) &&
         std::all_of(rest.begin() + static_cast<std::ptrdiff_t>(dot) + 1, rest.end(), is_hex);
}

std::vector<fs::path> temporaries(const fs::path& dir, const std::string& name) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().rfind(name + ".tmp.", 0) == 0) out.push_back(entry.path());
  return out;
}

class ReliabilityCrashSafeCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("heed_crash_safe_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ReliabilityCrashSafeCheckpoint, SigkillAtEveryFailPointLeavesOneCompleteVersion) {
  const std::string name = "ckpt.safetensors";
  const std::string path = (dir_ / name).string();
  struct Stage {
    const char* failpoint;
    bool renamed;  // the new version is in place when the kill lands
  };
  for (const Stage& stage : {Stage{"atomic-write:created", false}, Stage{"atomic-write:half-written", false},
                             Stage{"atomic-write:synced", false}, Stage{"atomic-write:renamed", true}}) {
    for (const fs::path& t : temporaries(dir_, name)) fs::remove(t);
    write_checkpoint(path, 1);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0) << "fork failed";
    if (child == 0) {  // only the write, then _exit: nothing unsafe after fork
      ::setenv("HEED_FAILPOINT", stage.failpoint, 1);
      try {
        write_checkpoint(path, 2);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);  // the fail point did not fire
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << stage.failpoint << ": the child was not killed there (status " << status << ")";
    EXPECT_EQ(verified_version(path), stage.renamed ? 2 : 1) << stage.failpoint;
    const std::vector<fs::path> temps = temporaries(dir_, name);
    EXPECT_EQ(temps.size(), stage.renamed ? 0u : 1u) << stage.failpoint;
    for (const fs::path& t : temps) EXPECT_TRUE(is_temporary_name(t.filename().string(), name)) << t;
    // A later write replaces the checkpoint as usual, whatever was left behind.
    write_checkpoint(path, 3);
    EXPECT_EQ(verified_version(path), 3) << stage.failpoint;
  }
}

TEST_F(ReliabilityCrashSafeCheckpoint, SigkillAtRandomMomentsNeverLeavesAHalfWrittenCheckpoint) {
  const std::string name = "ckpt.safetensors";
  const std::string path = (dir_ / name).string();
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<int64_t> delay_us(0, 100000);
  int64_t previous = -1;  // version at the path before the current child (-1: no file yet)
  int new_versions = 0, kills_mid_write = 0;
  size_t leftovers = 0;
  for (int kill_index = 0; kill_index < kKills; ++kill_index) {
    // Versions of child k are k * 100000 + 1, + 2, ...: monotonic across children, and exact
    // as f32 (below 2^24).
    const int64_t base = int64_t{kill_index + 1} * 100000;
    const pid_t child = ::fork();
    ASSERT_GE(child, 0) << "fork failed";
    if (child == 0) {
      // The child only writes (no OpenMP, no gtest): a forked multi-threaded process must stay
      // within what is safe after fork.
      try {
        for (int64_t v = base + 1;; ++v) write_checkpoint(path, v);
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped on its own (status " << status << "): a write failed";

    const std::vector<fs::path> temps = temporaries(dir_, name);
    ASSERT_LE(temps.size(), leftovers + 1) << "more than one temporary file left by one kill";
    if (temps.size() > leftovers) ++kills_mid_write;
    leftovers = temps.size();
    for (const fs::path& t : temps)
      EXPECT_TRUE(is_temporary_name(t.filename().string(), name)) << t;

    if (!fs::exists(path)) {
      EXPECT_EQ(previous, -1) << "the checkpoint disappeared";
      continue;
    }
    const int64_t version = verified_version(path);
    ASSERT_GE(version, 0) << "after kill " << kill_index;
    // Either the file this child found, or one it wrote completely.
    ASSERT_TRUE(version == previous || version > base)
        << "after kill " << kill_index << ": version " << version << ", before " << previous;
    if (version != previous) ++new_versions;
    previous = version;
  }
  RecordProperty("new_versions", std::to_string(new_versions));
  RecordProperty("kills_mid_write", std::to_string(kills_mid_write));
  // A leftover temporary file is never what a reader gets, and a later write succeeds.
  write_checkpoint(path, 99);
  EXPECT_EQ(verified_version(path), 99);
  EXPECT_EQ(temporaries(dir_, name).size(), leftovers) << "a successful write leaves nothing behind";
}

}  // namespace
}  // namespace heed
