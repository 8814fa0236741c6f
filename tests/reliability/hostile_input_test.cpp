// The hostile-input suite (issue 13): what a new user who trusts heed with a week of training
// does by accident. Runs are never lost or mixed (overwrite, lock, SIGTERM / SIGINT), corrupt
// checkpoints never load silently (checksums, optimiser state), readers refuse what is not a
// regular file, train fails before the first epoch on bad data or resources, output errors
// fail the command, and the CLI names what it refuses.
//
// Everything goes through the `heed` binary next to the test binary's directory (cli_util.h).
// A refusal is exit status 1 through heed's error path: one line "heed: error: ..." on stderr
// naming the file, key or value, nothing on stdout, never "unexpected error".
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

// Header-only use of libxxhash (no link dependency): the checksums heed is to store.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cli_util.h"
#include "heed/core/version.h"
#include "heed/nn/models/vit.h"
#include "heed/tasks/image_classification.h"
#include "test_files.h"
#include "test_util.h"

namespace heed {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::Bytes;
using test::CliResult;
using test::idx_file;
using test::write_bytes;
using test::write_text;

constexpr int kSide = 8, kTrainImages = 60, kTestImages = 12;

// A tiny run: 48 training images in batches of 16 (3 steps an epoch), well under a second.
const char* kTrainConfig = R"({
  "model": {"patch_size": 4, "dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
  "train": {"epochs": 1, "batch_size": 16, "lr": 0.01, "seed": 3, "threads": 1, "log_every": 1000},
  "data": {"validation_fraction": 0.2, "eval_batch_size": 16}
})";

// ---------------------------------------------------------------- helpers

Bytes read_bytes(const fs::path& path) {
  const std::string text = test::read_text(path);
  return Bytes(text.begin(), text.end());
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Exit status 1 through heed's error path, one line on stderr holding every one of the given
// parts, nothing on stdout.
#define EXPECT_REFUSED(result, ...)                                                                 \
  do {                                                                                              \
    const CliResult& refused_ = (result);                                                           \
    EXPECT_EQ(refused_.out, "") << "stdout of a failed command";                                    \
    EXPECT_TRUE(refused_.exited) << "heed was killed by signal " << refused_.signal                 \
                                 << (refused_.core_dumped ? " (core dumped)" : "")                  \
                                 << "; stderr: " << refused_.err;                                   \
    EXPECT_EQ(refused_.exit_code, 1) << "stderr: " << refused_.err;                                 \
    EXPECT_EQ(refused_.err.rfind("heed: error: ", 0), 0u) << "stderr: " << refused_.err;            \
    EXPECT_EQ(refused_.err.find("unexpected error"), std::string::npos) << refused_.err;            \
    EXPECT_EQ(std::count(refused_.err.begin(), refused_.err.end(), '\n'), 1)                        \
        << "not one line: " << refused_.err;                                                        \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                          \
      EXPECT_NE(refused_.err.find(part_), std::string::npos)                                        \
          << "\"" << part_ << "\" is not named: " << refused_.err;                                  \
  } while (0)

// A command that fails without harm: exited (no signal) with a non-zero status, no "unexpected
// error"; the usage errors of the CLI parser may use their own status and layout.
#define EXPECT_USAGE_ERROR(result, option)                                                     \
  do {                                                                                         \
    const CliResult& usage_ = (result);                                                        \
    EXPECT_TRUE(usage_.exited) << "killed by signal " << usage_.signal << ": " << usage_.err;  \
    EXPECT_NE(usage_.exit_code, 0) << "accepted; stdout: " << usage_.out;                      \
    EXPECT_EQ(usage_.err.find("unexpected error"), std::string::npos) << usage_.err;           \
    EXPECT_NE(usage_.err.find(option), std::string::npos) << "not named: " << usage_.err;      \
  } while (0)

// `text` with every occurrence of `ignore` removed: the scratch path holds the test's name and
// pid, whose words and digits must not count as what a message is asked to name.
std::string without(std::string text, const std::string& ignore) {
  if (ignore.empty()) return text;
  for (size_t at = text.find(ignore); at != std::string::npos; at = text.find(ignore)) text.erase(at, ignore.size());
  return text;
}

// Whether `text`, without `ignore`, holds the integer `n` on its own (not inside another number).
bool mentions_number(const std::string& text, const std::string& ignore, long n) {
  // By hand, not std::regex: GCC 12 at -O1 with the sanitizers warns inside <regex>
  // (-Wmaybe-uninitialized), and warnings are errors.
  const std::string t = without(text, ignore), number = std::to_string(n);
  auto digit = [&](size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  for (size_t at = t.find(number); at != std::string::npos; at = t.find(number, at + 1)) {
    const bool starts = at == 0 || !(digit(at - 1) || t[at - 1] == '.');
    const size_t end = at + number.size();
    const bool ends = !digit(end) && !(end < t.size() && t[end] == '.' && digit(end + 1));
    if (starts && ends) return true;
  }
  return false;
}

// Every regular file under `dir` by relative path, with its bytes.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = test::read_text(e.path());
  return files;
}

// The files of a run (what must never be lost), without the lock file.
std::map<std::string, std::string> run_files(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.jsonl"})
    if (fs::exists(dir / name)) files[name] = test::read_text(dir / name);
  return files;
}

// The names whose bytes differ (or that only one side has); empty when equal.
std::string differing(const std::map<std::string, std::string>& a, const std::map<std::string, std::string>& b) {
  std::string out;
  for (const auto& [name, bytes] : a) {
    auto it = b.find(name);
    if (it == b.end()) out += name + " (gone) ";
    else if (it->second != bytes) out += name + " (changed) ";
  }
  for (const auto& [name, bytes] : b)
    if (!a.count(name)) out += name + " (new) ";
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The first stderr line that gives the parameter count ("ViT: 827 parameters, ...").
std::string summary_line(const std::string& err) {
  size_t begin = 0;
  while (begin < err.size()) {
    size_t end = err.find('\n', begin);
    if (end == std::string::npos) end = err.size();
    const std::string line = err.substr(begin, end - begin);
    if (contains(line, " parameters")) return line;
    begin = end + 1;
  }
  return "";
}

// A safetensors file as bytes: [u64 LE header length N][N bytes JSON][data section].
struct RawSafetensors {
  Bytes bytes;
  uint64_t header_length = 0;
  json header;

  size_t data_start() const { return size_t(8 + header_length); }
  std::string header_text() const {
    return std::string(bytes.begin() + 8, bytes.begin() + std::ptrdiff_t(data_start()));
  }
  // [begin, end) of the tensor's data in `bytes`.
  std::pair<size_t, size_t> range(const std::string& name) const {
    const json& offsets = header.at(name).at("data_offsets");
    return {data_start() + offsets.at(0).get<size_t>(), data_start() + offsets.at(1).get<size_t>()};
  }
  // The file with `new_header` (padded with spaces to 8 bytes) and the data section unchanged:
  // the offsets, relative to the data section, stay valid.
  Bytes with_header(const json& new_header) const {
    std::string text = new_header.dump();
    while (text.size() % 8 != 0) text.push_back(' ');
    Bytes out(8);
    for (int i = 0; i < 8; ++i) out[size_t(i)] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xff);
    out.insert(out.end(), text.begin(), text.end());
    out.insert(out.end(), bytes.begin() + std::ptrdiff_t(data_start()), bytes.end());
    return out;
  }
};

RawSafetensors read_raw(const fs::path& path) {
  RawSafetensors s;
  s.bytes = read_bytes(path);
  if (s.bytes.size() < 8) {
    ADD_FAILURE() << path << " is shorter than 8 bytes";
    return s;
  }
  for (int i = 7; i >= 0; --i) s.header_length = (s.header_length << 8) | s.bytes[size_t(i)];
  if (s.bytes.size() < s.data_start()) {
    ADD_FAILURE() << path << ": header length " << s.header_length << " beyond the file";
    return s;
  }
  s.header = json::parse(s.header_text());
  return s;
}

std::string xxh64_hex(const uint8_t* data, size_t size, bool upper) {
  char buf[17];
  std::snprintf(buf, sizeof buf, upper ? "%016llX" : "%016llx",
                static_cast<unsigned long long>(XXH64(data, size, 0)));
  return buf;
}

// An exclusive flock on `path`, held as another heed would hold it, with this process's pid in
// the file. Released on destruction.
class LockHolder {
 public:
  explicit LockHolder(const fs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return;
    const std::string pid = std::to_string(::getpid()) + "\n";
    wrote_ = ::ftruncate(fd_, 0) == 0 && ::write(fd_, pid.data(), pid.size()) == ssize_t(pid.size());
    locked_ = ::flock(fd_, LOCK_EX | LOCK_NB) == 0;
  }
  ~LockHolder() {
    if (fd_ >= 0) ::close(fd_);
  }
  LockHolder(const LockHolder&) = delete;
  LockHolder& operator=(const LockHolder&) = delete;
  bool held() const { return fd_ >= 0 && wrote_ && locked_; }

 private:
  int fd_ = -1;
  bool wrote_ = false, locked_ = false;
};

// Whether `child` has ended, without reaping it (finish_cli still gets its status).
bool has_ended(pid_t child) {
  siginfo_t info{};
  return ::waitid(P_PID, id_t(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child;
}

// ---------------------------------------------------------------- fixture

// Per test: a valid checkpoint of a tiny ViT for 8x8 grey images in 3 classes (written by the
// library, so with whatever checksums it writes), train-* and t10k-* IDX files, a tiny config.
class HostileInput : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(test::cli_path())) << "the heed CLI is not at " << test::cli_path()
                                              << " (next to the test binary's directory); build it first";
    dir_ = fs::path(::testing::TempDir()) /
           ("heed_hostile_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
            "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    checkpoint_ = (dir_ / "good.safetensors").string();
    test::write_tiny_vit_checkpoint(checkpoint_, kSide);
    data_ = dir_ / "data";
    fs::create_directories(data_);
    test::write_image_split(data_, "train", kTrainImages, 1, kSide);
    test::write_image_split(data_, "t10k", kTestImages, 2, kSide);
    config_ = dir_ / "config.json";
    write_text(config_, kTrainConfig);
  }
  void TearDown() override {
    for (pid_t pid : children_) {  // a test that failed half-way leaves no training behind
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    fs::remove_all(dir_);
  }

  CliResult run(const std::vector<std::string>& args, int timeout_s = 60) {
    return test::run_cli(args, dir_, {}, timeout_s);
  }

  std::vector<std::string> train_args(const fs::path& out, const std::vector<std::string>& extra = {},
                                      const fs::path& data_dir = {}, const fs::path& config = {}) const {
    std::vector<std::string> a = {"train", "--config", (config.empty() ? config_ : config).string(), "--data",
                                  (data_dir.empty() ? data_ : data_dir).string(), "--out", out.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  CliResult train_cli(const fs::path& out, const std::vector<std::string>& extra = {},
                      const fs::path& data_dir = {}) {
    return run(train_args(out, extra, data_dir), 120);
  }

  // The tiny config with `patch` merged in (RFC 7386), as a file.
  fs::path write_config(const std::string& name, const json& patch) const {
    json j = json::parse(kTrainConfig);
    j.merge_patch(patch);
    const fs::path path = dir_ / name;
    write_text(path, j.dump());
    return path;
  }

  // A data directory holding a copy of the valid train and t10k files.
  fs::path copy_of_data(const std::string& name) const {
    const fs::path d = dir_ / name;
    fs::create_directories(d);
    for (const fs::directory_entry& e : fs::directory_iterator(data_))
      fs::copy_file(e.path(), d / e.path().filename(), fs::copy_options::overwrite_existing);
    return d;
  }

  pid_t start(const std::vector<std::string>& args, const std::string& name, const fs::path& out_path = {},
              const fs::path& cwd = {}) {
    const pid_t pid = test::start_cli(args, out_path.empty() ? dir_ / (name + ".stdout") : out_path,
                                      dir_ / (name + ".stderr"), {}, cwd);
    if (pid > 0) children_.push_back(pid);
    return pid;
  }
  CliResult finish(pid_t pid, const std::string& name, int timeout_s, const fs::path& out_path = {}) {
    CliResult r = test::finish_cli(pid, out_path.empty() ? dir_ / (name + ".stdout") : out_path,
                             dir_ / (name + ".stderr"), timeout_s);
    children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
    return r;
  }

  // Waits until the training `pid` has finished an epoch (a line in <out>/metrics.jsonl).
  bool wait_for_first_epoch(pid_t pid, const fs::path& out, int timeout_s = 60) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    const fs::path metrics = out / "metrics.jsonl";
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code error;
      if (fs::exists(metrics, error) && fs::file_size(metrics, error) > 0 && !error) return true;
      if (has_ended(pid)) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // A training far too long to finish, interrupted by `sig` after its first epoch.
  CliResult interrupted_training(const fs::path& out, int sig) {
    const pid_t pid = start(train_args(out, {"--set", "train.epochs=100000"}), "long");
    if (!wait_for_first_epoch(pid, out)) {
      ADD_FAILURE() << "the training showed no progress (or ended) before the signal";
      ::kill(pid, SIGKILL);
      return finish(pid, "long", 5);
    }
    ::kill(pid, sig);
    return finish(pid, "long", 60);
  }

  // A run stopped after epoch 1 of 2 (time limit): last.safetensors holds optimiser state.
  void train_half_a_run(const fs::path& out) {
    const CliResult r = train_cli(out, {"--set", "train.epochs=2", "--set", "train.time_limit_minutes=0.000001"});
    ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
    ASSERT_TRUE(fs::exists(out / "last.safetensors"));
  }
  CliResult resume(const fs::path& out) { return train_cli(out, {"--set", "train.epochs=2", "--resume"}); }

  fs::path dir_, data_, config_;
  std::string checkpoint_;
  std::vector<pid_t> children_;
};

// Train failed before any work: no epoch ran, no checkpoint was written.
void expect_no_work(const CliResult& r, const fs::path& out) {
  EXPECT_EQ(r.err.find("epoch 1/"), std::string::npos) << "an epoch ran before the error: " << r.err;
  EXPECT_FALSE(fs::exists(out / "last.safetensors")) << "a checkpoint was written before the error";
}

// ---------------------------------------------------------------- runs are never lost or mixed

TEST_F(HostileInput, TrainRefusesToOverwriteARun) {
  const fs::path out = dir_ / "run";
  const CliResult first = train_cli(out);
  ASSERT_TRUE(first.exited && first.exit_code == 0) << first.err;
  const auto before = run_files(out);
  ASSERT_EQ(before.size(), 3u) << "the first run left no last, best and metrics.jsonl";
  EXPECT_REFUSED(train_cli(out, {"--set", "train.seed=9"}), out.string(), "--resume", "--overwrite");
  EXPECT_EQ(differing(before, run_files(out)), "");
}

TEST_F(HostileInput, TrainRefusesADirectoryHoldingAnyRunFile) {
  // One file of a run is enough to call the directory a run (e.g. a run killed in epoch 1
  // has metrics.jsonl only after its first epoch, last.safetensors only after a save).
  const fs::path run_dir = dir_ / "run";
  const CliResult first = train_cli(run_dir);
  ASSERT_TRUE(first.exited && first.exit_code == 0) << first.err;
  int i = 0;
  for (const char* name : {"last.safetensors", "best.safetensors", "metrics.jsonl"}) {
    const fs::path only = dir_ / ("only" + std::to_string(i++));
    fs::create_directories(only);
    fs::copy_file(run_dir / name, only / name);
    const auto before = run_files(only);
    EXPECT_REFUSED(train_cli(only), only.string(), "--resume", "--overwrite");
    EXPECT_EQ(differing(before, run_files(only)), "") << name;
  }
}

TEST_F(HostileInput, TrainOverwriteMovesTheOldRunAside) {
  const fs::path out = dir_ / "run";
  const CliResult first = train_cli(out);
  ASSERT_TRUE(first.exited && first.exit_code == 0) << first.err;
  const std::string old_last = test::read_text(out / "last.safetensors");
  const CliResult second = train_cli(out, {"--overwrite", "--set", "train.seed=9"});
  ASSERT_TRUE(second.exited && second.exit_code == 0) << second.err;
  // The new run is in place (another seed: other weights) ...
  EXPECT_TRUE(test::read_text(out / "last.safetensors") != old_last) << "the second run did not write its own";
  // ... and the old one under exactly one sibling run.replaced-*, which stderr names.
  std::vector<fs::path> replaced;
  for (const fs::directory_entry& e : fs::directory_iterator(dir_))
    if (e.path().filename().string().rfind("run.replaced-", 0) == 0) replaced.push_back(e.path());
  ASSERT_EQ(replaced.size(), 1u) << "no (or more than one) " << (dir_ / "run.replaced-*");
  EXPECT_TRUE(fs::is_directory(replaced[0]));
  bool found = false;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(replaced[0]))
    if (e.is_regular_file() && test::read_text(e.path()) == old_last) found = true;
  EXPECT_TRUE(found) << "the old last.safetensors is not under " << replaced[0];
  EXPECT_CONTAINS(second.err, replaced[0].filename().string());
}

TEST_F(HostileInput, TrainIntoAnEmptyExistingDirectoryNeedsNoFlag) {
  // The refusal is for runs, not for directories made beforehand (e.g. by a job script).
  const fs::path out = dir_ / "made-by-a-script";
  fs::create_directories(out);
  const CliResult r = train_cli(out);
  EXPECT_TRUE(r.exited && r.exit_code == 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "last.safetensors"));
}

TEST_F(HostileInput, TrainRefusesALockedDirectory) {
  const fs::path out = dir_ / "held";
  fs::create_directories(out);
  const LockHolder lock(out / "lock");
  ASSERT_TRUE(lock.held());
  const auto before = files_of(out);
  const auto start_time = std::chrono::steady_clock::now();
  const CliResult r = run(train_args(out), 30);
  EXPECT_LT(seconds_since(start_time), 10.0) << "a second writer must fail at once, not wait";
  EXPECT_REFUSED(r, "lock");
  EXPECT_TRUE(mentions_number(r.err, dir_.string(), ::getpid())) << "the holder's pid is not named: " << r.err;
  EXPECT_EQ(differing(before, files_of(out)), "") << "the holder's lock file (and pid) must stay";
}

TEST_F(HostileInput, TrainRefusesALockedRunWithOverwriteOrResume) {
  const fs::path out = dir_ / "run";
  const CliResult first = train_cli(out);
  ASSERT_TRUE(first.exited && first.exit_code == 0) << first.err;
  const LockHolder lock(out / "lock");
  ASSERT_TRUE(lock.held());
  const auto before = files_of(out);
  for (const char* flag : {"--overwrite", "--resume"}) {
    const auto start_time = std::chrono::steady_clock::now();
    const CliResult r = run(train_args(out, {flag}), 30);
    EXPECT_LT(seconds_since(start_time), 10.0) << flag;
    EXPECT_REFUSED(r, "lock");
    EXPECT_TRUE(mentions_number(r.err, dir_.string(), ::getpid())) << flag << ": no holder's pid: " << r.err;
    EXPECT_EQ(differing(before, files_of(out)), "") << flag;
  }
  for (const fs::directory_entry& e : fs::directory_iterator(dir_))
    EXPECT_NE(e.path().filename().string().rfind("run.replaced-", 0), 0u)
        << "--overwrite moved a locked run aside: " << e.path();
}

TEST_F(HostileInput, SecondTrainingIntoARunningOneFailsAtOnce) {
  // The probe: two trainings into one directory interleaved metrics.jsonl and mixed best/last.
  const fs::path out = dir_ / "run";
  const pid_t pid = start(train_args(out, {"--set", "train.epochs=100000"}), "first");
  ASSERT_TRUE(wait_for_first_epoch(pid, out)) << test::read_text(dir_ / "first.stderr");
  EXPECT_CONTAINS(test::read_text(out / "lock"), std::to_string(pid));  // the holder says who it is
  const auto start_time = std::chrono::steady_clock::now();
  const CliResult second = run(train_args(out, {"--overwrite"}), 30);
  EXPECT_LT(seconds_since(start_time), 10.0);
  EXPECT_REFUSED(second, "lock");
  EXPECT_TRUE(mentions_number(second.err, dir_.string(), pid)) << "the holder's pid is not named: " << second.err;
  EXPECT_FALSE(has_ended(pid)) << "the second writer disturbed the first";
  ::kill(pid, SIGTERM);
  finish(pid, "first", 60);
}

TEST_F(HostileInput, SigtermSavesLastAndExits143) {
  // What batch schedulers, systemd and container runtimes send before SIGKILL.
  const fs::path out = dir_ / "run";
  const CliResult r = interrupted_training(out, SIGTERM);
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal << " without saving; stderr: " << r.err;
  EXPECT_EQ(r.exit_code, 143) << r.err;
  EXPECT_CONTAINS(r.err, "SIGTERM");
  EXPECT_CONTAINS(r.err, "--resume");
  EXPECT_CONTAINS(r.err, (out / "last.safetensors").string());
  EXPECT_EQ(r.err.find("unexpected error"), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(out / "last.safetensors"));
  const CliResult ev = run({"eval", "--checkpoint", (out / "last.safetensors").string(), "--data", data_.string()});
  EXPECT_TRUE(ev.exited && ev.exit_code == 0) << ev.err;
}

TEST_F(HostileInput, SigintSavesLastAndExits130) {
  // A Ctrl-C'd run must not exit 0 like a finished one.
  const fs::path out = dir_ / "run";
  const CliResult r = interrupted_training(out, SIGINT);
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal << "; stderr: " << r.err;
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_CONTAINS(r.err, "SIGINT");
  EXPECT_CONTAINS(r.err, "--resume");
  EXPECT_EQ(r.err.find("unexpected error"), std::string::npos) << r.err;
  ASSERT_TRUE(fs::exists(out / "last.safetensors"));
  const CliResult ev = run({"eval", "--checkpoint", (out / "last.safetensors").string(), "--data", data_.string()});
  EXPECT_TRUE(ev.exited && ev.exit_code == 0) << ev.err;
}

TEST_F(HostileInput, RefusedResumeNamesTheDifferingKey) {
  const fs::path out = dir_ / "run";
  ASSERT_NO_FATAL_FAILURE(train_half_a_run(out));
  const auto before = run_files(out);
  EXPECT_REFUSED(train_cli(out, {"--set", "train.epochs=2", "--set", "model.dim=12", "--resume"}),
                 (out / "last.safetensors").string(), "model.dim");
  EXPECT_EQ(differing(before, run_files(out)), "");
}

// ---------------------------------------------------------------- integrity

TEST_F(HostileInput, GoodCheckpointLoadsWithoutANotice) {
  // The fixtures work, and a checkpoint heed wrote itself carries checksums (no notice).
  const CliResult r = run({"eval", "--checkpoint", checkpoint_, "--data", data_.string()});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << r.err;
  EXPECT_EQ(r.err.find("no checksums"), std::string::npos) << r.err;
  const RawSafetensors s = read_raw(checkpoint_);
  EXPECT_TRUE(s.header.contains("__metadata__") && s.header["__metadata__"].contains("heed.checksums"))
      << "no heed.checksums in the metadata of a checkpoint written by save_checkpoint";
}

TEST_F(HostileInput, FlippedBitInATensorIsCaught) {
  // The probe: one flipped bit in head.weight loaded fine and dropped accuracy from 0.90 to 0.55.
  RawSafetensors s = read_raw(checkpoint_);
  const auto [begin, end] = s.range("head.weight");
  ASSERT_GT(end, begin);
  const size_t element = (end - begin) / 4 / 2;  // the middle float
  s.bytes[begin + 4 * element] ^= 0x01;          // lowest mantissa bit: still finite, just wrong
  const std::string bad = (dir_ / "flipped.safetensors").string();
  write_bytes(bad, s.bytes);
  EXPECT_REFUSED(run({"eval", "--checkpoint", bad, "--data", data_.string()}), bad, "head.weight", "checksum");
}

TEST_F(HostileInput, ChangedDigitInMetadataIsCaught) {
  // The probe: one digit of the normalisation std changed; valid JSON, same length.
  RawSafetensors s = read_raw(checkpoint_);
  const std::string header = s.header_text();
  const size_t key = header.find(R"(std\":)");
  ASSERT_NE(key, std::string::npos) << "no normalisation std in the metadata: " << header;
  size_t digit = key + 6;
  while (digit < header.size() && !(header[digit] >= '0' && header[digit] <= '9')) ++digit;
  ASSERT_LT(digit, key + 12) << header.substr(key, 20);
  uint8_t& c = s.bytes[8 + digit];
  c = c == '9' ? uint8_t('8') : uint8_t(c + 1);
  EXPECT_TRUE(json::accept(s.header_text())) << "the edit broke the header";
  const std::string bad = (dir_ / "metadata.safetensors").string();
  write_bytes(bad, s.bytes);
  EXPECT_REFUSED(run({"eval", "--checkpoint", bad, "--data", data_.string()}), bad, "metadata", "checksum");
}

TEST_F(HostileInput, CheckpointWithoutChecksumsLoadsWithANotice) {
  // Older checkpoints, and ones converted from PyTorch, have none: they load, with a notice.
  const RawSafetensors s = read_raw(checkpoint_);
  json header = s.header;
  ASSERT_TRUE(header.contains("__metadata__"));
  json& meta = header["__metadata__"];
  bool removed = false;
  for (auto it = meta.begin(); it != meta.end();) {
    if (it.key().rfind("heed.checksum", 0) == 0) {
      it = meta.erase(it);
      removed = true;
    } else {
      ++it;
    }
  }
  EXPECT_TRUE(removed) << "the checkpoint had no heed.checksums to remove";
  const std::string old = (dir_ / "no-checksums.safetensors").string();
  write_bytes(old, s.with_header(header));
  const CliResult r = run({"eval", "--checkpoint", old, "--data", data_.string()});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << r.err;
  EXPECT_CONTAINS(r.err, "no checksums");
  EXPECT_CONTAINS(r.out, "accuracy");
}

TEST_F(HostileInput, NegativeSecondMomentIsRefusedOnResume) {
  // The probe: a negative exp_avg_sq was accepted on resume and gave NaN at step 2. Either the
  // checksum or the optimiser-state validation catches it; both name the tensor.
  const fs::path out = dir_ / "run";
  ASSERT_NO_FATAL_FAILURE(train_half_a_run(out));
  const fs::path last = out / "last.safetensors";
  RawSafetensors s = read_raw(last);
  const std::string name = "optimizer.exp_avg_sq.head.weight";
  ASSERT_TRUE(s.header.contains(name)) << s.header.dump();
  const float negative = -1.0f;
  std::memcpy(s.bytes.data() + s.range(name).first, &negative, sizeof negative);
  write_bytes(last, s.bytes);
  const CliResult r = resume(out);
  EXPECT_REFUSED(r, last.string(), "exp_avg_sq");
  EXPECT_EQ(r.err.find("last good checkpoint"), std::string::npos) << r.err;
}

TEST_F(HostileInput, NegativeSecondMomentWithValidChecksumsIsRefusedByValidation) {
  // The same with the tensor's checksum recomputed, so only the validation can catch it.
  // Assumes: a tensor's checksum is XXH64 (seed 0) of its raw bytes as 16 hex digits, and the
  // "__metadata__" checksum does not cover the heed.checksums entry itself (it cannot). The
  // digest is replaced in place, so the header keeps its bytes otherwise.
  const fs::path out = dir_ / "run";
  ASSERT_NO_FATAL_FAILURE(train_half_a_run(out));
  const fs::path last = out / "last.safetensors";
  RawSafetensors s = read_raw(last);
  const std::string name = "optimizer.exp_avg_sq.head.weight";
  ASSERT_TRUE(s.header.contains(name));
  ASSERT_TRUE(s.header.contains("__metadata__") && s.header["__metadata__"].contains("heed.checksums"))
      << "no heed.checksums in " << last;
  const json sums = json::parse(s.header["__metadata__"]["heed.checksums"].get<std::string>());
  ASSERT_TRUE(sums.contains(name)) << sums.dump();
  const std::string stored = sums[name].get<std::string>();
  const bool upper = std::any_of(stored.begin(), stored.end(), [](char ch) { return ch >= 'A' && ch <= 'F'; });
  const auto [begin, end] = s.range(name);
  ASSERT_EQ(xxh64_hex(s.bytes.data() + begin, end - begin, upper), stored)
      << "the stored checksum is not XXH64(seed 0) of the tensor's bytes; adapt this test";
  const float negative = -1.0f;
  std::memcpy(s.bytes.data() + begin, &negative, sizeof negative);
  const std::string fresh = xxh64_hex(s.bytes.data() + begin, end - begin, upper);
  const std::string header = s.header_text();
  const size_t at_key = header.find("heed.checksums");
  const size_t at_name = header.find(name, at_key);
  const size_t at_digest = at_name == std::string::npos ? at_name : header.find(stored, at_name);
  ASSERT_NE(at_digest, std::string::npos) << "the digest of " << name << " is not in the header text";
  std::memcpy(s.bytes.data() + 8 + at_digest, fresh.data(), fresh.size());
  write_bytes(last, s.bytes);
  const CliResult r = resume(out);
  EXPECT_REFUSED(r, last.string(), "exp_avg_sq");
  EXPECT_EQ(r.err.find("checksum"), std::string::npos) << "the checksum matched; validation must say why: " << r.err;
}

// ---------------------------------------------------------------- bounded reads

TEST_F(HostileInput, EvalRefusesACharacterDeviceAsCheckpoint) {
  // The probe: /dev/zero was read whole (1.5 GB in 7 s) before the 8-byte header was checked.
  for (const std::string device : {"/dev/zero", "/dev/urandom"}) {
    const auto start_time = std::chrono::steady_clock::now();
    const CliResult r = run({"eval", "--checkpoint", device, "--data", data_.string()}, 5);
    EXPECT_LT(seconds_since(start_time), 5.0) << device;
    EXPECT_REFUSED(r, device, "not a regular file");
  }
}

TEST_F(HostileInput, EvalRefusesAFifoAsCheckpoint) {
  // No writer: opening it for reading blocks forever unless heed checks first.
  const fs::path fifo = dir_ / "fifo.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0) << std::strerror(errno);
  EXPECT_REFUSED(run({"eval", "--checkpoint", fifo.string(), "--data", data_.string()}, 10), fifo.string(),
                 "not a regular file");
}

TEST_F(HostileInput, EvalRefusesAFifoAsAnIdxFile) {
  const fs::path bad = copy_of_data("fifo-data");
  const fs::path fifo = bad / "t10k-images-idx3-ubyte.gz";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0) << std::strerror(errno);
  EXPECT_REFUSED(run({"eval", "--checkpoint", checkpoint_, "--data", bad.string()}, 10), fifo.string(),
                 "not a regular file");
}

TEST_F(HostileInput, PredictRefusesACharacterDeviceAsInput) {
  const auto start_time = std::chrono::steady_clock::now();
  const CliResult r = run({"predict", "--checkpoint", checkpoint_, "--input", "/dev/zero"}, 5);
  EXPECT_LT(seconds_since(start_time), 5.0);
  EXPECT_REFUSED(r, "/dev/zero", "not a regular file");
}

TEST_F(HostileInput, TrainRefusesACharacterDeviceAsConfig) {
  const fs::path out = dir_ / "run";
  const auto start_time = std::chrono::steady_clock::now();
  const CliResult r =
      run({"train", "--config", "/dev/zero", "--data", data_.string(), "--out", out.string()}, 5);
  EXPECT_LT(seconds_since(start_time), 5.0);
  EXPECT_REFUSED(r, "/dev/zero", "not a regular file");
  EXPECT_FALSE(fs::exists(out));
}

// ---------------------------------------------------------------- fail before the work

TEST_F(HostileInput, TrainRefusesATestSplitOfAnotherImageSizeBeforeTheFirstEpoch) {
  const fs::path bad = copy_of_data("bad-data");
  test::write_image_split(bad, "t10k", kTestImages, 2, 6);  // 6x6, the training images are 8x8
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {}, bad);
  EXPECT_REFUSED(r, (bad / "t10k-images-idx3-ubyte.gz").string());
  EXPECT_TRUE(contains(without(r.err, dir_.string()), "size")) << "the problem is not named: " << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, TrainRefusesATrainingLabelOutsideTheClassNames) {
  const fs::path bad = copy_of_data("bad-data");
  Bytes labels;
  for (int i = 0; i < kTrainImages; ++i) labels.push_back(uint8_t(i % 3));
  labels[5] = 7;  // 3 class names configured
  const fs::path file = bad / "train-labels-idx1-ubyte.gz";
  write_bytes(file, test::gzip(idx_file({uint32_t(kTrainImages)}, labels)));
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {"--set", R"(data.class_names=["a","b","c"])"}, bad);
  EXPECT_REFUSED(r, file.string());
  EXPECT_TRUE(mentions_number(r.err, dir_.string(), 7)) << "the label is not named: " << r.err;
  const std::string words = without(r.err, dir_.string());  // not the "labels" of the file's name
  EXPECT_TRUE(contains(words, "record") || contains(words, "label")) << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, TrainRefusesATestLabelOutsideTheClasses) {
  // Found only after training ended, before; the classes come from the training labels (0-2).
  const fs::path bad = copy_of_data("bad-data");
  Bytes labels;
  for (int i = 0; i < kTestImages; ++i) labels.push_back(uint8_t(i % 3));
  labels[4] = 5;
  const fs::path file = bad / "t10k-labels-idx1-ubyte.gz";
  write_bytes(file, test::gzip(idx_file({uint32_t(kTestImages)}, labels)));
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {}, bad);
  EXPECT_REFUSED(r, file.string());
  EXPECT_TRUE(mentions_number(r.err, dir_.string(), 5)) << "the label is not named: " << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, TrainRefusesAMissingTestLabelsFile) {
  // The test images are there, their labels are not: a split train would use, half missing.
  const fs::path bad = copy_of_data("bad-data");
  fs::remove(bad / "t10k-labels-idx1-ubyte.gz");
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {}, bad);
  EXPECT_REFUSED(r, (bad / "t10k-labels-idx1-ubyte").string());  // with or without .gz
  expect_no_work(r, out);
}

TEST_F(HostileInput, TrainRefusesAStrayLabelInsteadOfGrowingTheClasses) {
  // The probe: one label 200 among 0-9 silently trained a 201-class model.
  const fs::path bad = copy_of_data("bad-data");
  Bytes labels;
  for (int i = 0; i < kTrainImages; ++i) labels.push_back(uint8_t(i % 3));
  labels[11] = 200;
  const fs::path file = bad / "train-labels-idx1-ubyte.gz";
  write_bytes(file, test::gzip(idx_file({uint32_t(kTrainImages)}, labels)));
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {}, bad);
  EXPECT_REFUSED(r, file.string());
  EXPECT_TRUE(mentions_number(r.err, dir_.string(), 200)) << "the label is not named: " << r.err;
  EXPECT_EQ(summary_line(r.err), "") << "a model was built: " << r.err;
  expect_no_work(r, out);
}

// ---------------------------------------------------------------- output errors

TEST_F(HostileInput, EvalJsonToAFullDeviceFails) {
  // The probe: `heed eval --json > /dev/full` exited 0 with nothing written.
  const pid_t pid = start({"eval", "--checkpoint", checkpoint_, "--data", data_.string(), "--json"}, "full",
                          "/dev/full");
  const CliResult r = finish(pid, "full", 60, "/dev/full");
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal << ": " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("heed: error: ", 0), 0u) << r.err;
  EXPECT_CONTAINS(r.err, "stdout");
  EXPECT_TRUE(contains(r.err, "No space left") || contains(r.err, "write")) << r.err;
  EXPECT_EQ(r.err.find("unexpected error"), std::string::npos) << r.err;
}

TEST_F(HostileInput, InfoToAFullDeviceFails) {
  const pid_t pid = start({"info"}, "full", "/dev/full");
  const CliResult r = finish(pid, "full", 30, "/dev/full");
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal << ": " << r.err;
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("heed: error: ", 0), 0u) << r.err;
  EXPECT_CONTAINS(r.err, "stdout");
  EXPECT_TRUE(contains(r.err, "No space left") || contains(r.err, "write")) << r.err;
}

// ---------------------------------------------------------------- config

TEST_F(HostileInput, DuplicateConfigKeyIsRefused) {
  // nlohmann keeps the last of duplicate keys; a user meant one of them.
  const fs::path config = dir_ / "duplicate.json";
  write_text(config, R"({
    "model": {"patch_size": 4, "dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
    "train": {"epochs": 1, "epochs": 2, "batch_size": 16, "lr": 0.01, "seed": 3, "threads": 1,
              "log_every": 1000},
    "data": {"validation_fraction": 0.2, "eval_batch_size": 16}
  })");
  const fs::path out = dir_ / "run";
  const CliResult r = run(train_args(out, {}, {}, config), 120);
  EXPECT_REFUSED(r, config.string(), "duplicate", "epochs");
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(HostileInput, ThreadsBeyondTheLimitAreRefused) {
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {"--set", "train.threads=100000"});
  EXPECT_REFUSED(r, "train.threads");
  EXPECT_TRUE(mentions_number(r.err, dir_.string(), 100000)) << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, ModelTooLargeForMemoryIsRefusedWithTheEstimate) {
  // The probe ended in "unexpected error: std::bad_alloc".
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {"--set", "model.dim=1000000"});
  EXPECT_REFUSED(r, "memory");
  EXPECT_EQ(r.err.find("bad_alloc"), std::string::npos) << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, BadSetValueIsBlamedOnSetNotTheConfigFile) {
  const fs::path out = dir_ / "run";
  const CliResult r = train_cli(out, {"--set", "train.epochs=abc"});
  EXPECT_REFUSED(r, "--set", "train.epochs");
  EXPECT_EQ(r.err.find(config_.string()), std::string::npos) << "blames the config file: " << r.err;
  expect_no_work(r, out);
}

TEST_F(HostileInput, SetOfAWholeSectionDoesNotDropIt) {
  // The probe: --set 'model={}' replaced the model section with the defaults (827 -> 202627
  // parameters). Refusing it, or merging it (no change), are both fine.
  const CliResult base = train_cli(dir_ / "base");
  ASSERT_TRUE(base.exited && base.exit_code == 0) << base.err;
  ASSERT_NE(summary_line(base.err), "") << base.err;
  const CliResult r = train_cli(dir_ / "override", {"--set", "model={}"});
  if (r.exit_code == 0) {
    EXPECT_EQ(summary_line(r.err), summary_line(base.err)) << "--set model={} changed the model";
  } else {
    EXPECT_REFUSED(r, "model");
  }
}

// ---------------------------------------------------------------- command line

TEST_F(HostileInput, VersionIsPrinted) {
  const CliResult r = run({"--version"});
  EXPECT_TRUE(r.exited && r.exit_code == 0) << r.err;
  EXPECT_EQ(r.out.rfind(std::string("heed ") + version(), 0), 0u) << r.out;
}

TEST_F(HostileInput, UnknownSubcommandIsNamed) {
  // The probe said "A subcommand is required".
  EXPECT_USAGE_ERROR(run({"frobnicate"}), "frobnicate");
}

TEST_F(HostileInput, TopKZeroIsRefusedSensibly) {
  // The probe printed a 309-digit range.
  std::string pgm = "P2 8 8 255\n";
  for (int i = 0; i < kSide * kSide; ++i) pgm += std::to_string(i * 4) + " ";
  write_text(dir_ / "image.pgm", pgm + "\n");
  const CliResult r =
      run({"predict", "--checkpoint", checkpoint_, "--input", (dir_ / "image.pgm").string(), "--top-k", "0"});
  EXPECT_USAGE_ERROR(r, "--top-k");
  size_t run = 0, longest = 0;  // the longest run of digits
  for (char c : r.err) {
    run = c >= '0' && c <= '9' ? run + 1 : 0;
    longest = std::max(longest, run);
  }
  EXPECT_LT(longest, 20u) << r.err;
}

// The bench options below must fail in parsing; the rest of each command line is tiny, so a
// fallback to defaults (today's behaviour) runs a benchmark of milliseconds, not minutes.
TEST_F(HostileInput, BenchVitRefusesBatchZero) {
  EXPECT_USAGE_ERROR(run({"bench", "vit", "--config", config_.string(), "--batch", "0", "--image-size", "8",
                          "--classes", "3", "--steps", "1"},
                         30),
                     "--batch");
}

TEST_F(HostileInput, BenchVitRefusesNegativeThreads) {
  EXPECT_USAGE_ERROR(run({"bench", "vit", "--config", config_.string(), "--threads", "-1", "--batch", "2",
                          "--image-size", "8", "--classes", "3", "--steps", "1"},
                         30),
                     "--threads");
}

TEST_F(HostileInput, BenchVitTakesAConfigOrACheckpointNotBoth) {
  const CliResult r = run({"bench", "vit", "--config", config_.string(), "--checkpoint", "x.safetensors",
                           "--steps", "1"}, 30);
  EXPECT_TRUE(r.exited && r.exit_code != 0) << r.err;
  EXPECT_NE(r.err.find("--config or --checkpoint"), std::string::npos) << r.err;
}

TEST_F(HostileInput, PruneRefusesBadFractionsAndSampleCounts) {
  EXPECT_USAGE_ERROR(run({"prune", "--checkpoint", "x.safetensors", "--curve", "0.2", "1.5"}, 30), "--curve");
  EXPECT_USAGE_ERROR(run({"prune", "--checkpoint", "x.safetensors", "--samples", "-4"}, 30), "--samples");
  EXPECT_USAGE_ERROR(run({"prune", "--checkpoint", "x.safetensors", "--fine-tune-steps", "-1"}, 30),
                     "--fine-tune-steps");
  EXPECT_USAGE_ERROR(run({"prune", "--checkpoint", "x.safetensors", "--fine-tune-lr", "0"}, 30), "--fine-tune-lr");
}

TEST_F(HostileInput, QuantizeRefusesANonPositiveCalibrationCount) {
  EXPECT_USAGE_ERROR(run({"quantize", "--checkpoint", "x.safetensors", "--out", "y.safetensors", "--calibrate", "d",
                          "--calibration-samples", "0"},
                         30),
                     "--calibration-samples");
}

TEST_F(HostileInput, BenchAttentionRefusesNegativeKvSeq) {
  EXPECT_USAGE_ERROR(run({"bench", "attention", "--kv-seq", "-3", "--seq", "8", "--heads", "1", "--head-dim",
                          "4", "--reps", "1"},
                         30),
                     "--kv-seq");
}

TEST_F(HostileInput, TrainRefusesAnEmptyOut) {
  // The probe: --out '' fell back to runs/<config name> without a word. Run in the scratch
  // directory so a fallback stays there.
  const pid_t pid = start({"train", "--config", config_.string(), "--data", data_.string(), "--out", ""},
                          "empty-out", {}, dir_);
  const CliResult r = finish(pid, "empty-out", 120);
  EXPECT_USAGE_ERROR(r, "--out");
  EXPECT_FALSE(fs::exists(dir_ / "runs")) << "trained into runs/ of the working directory";
}

TEST_F(HostileInput, ClassNameWithNulIsRefusedOrReportedWhole) {
  // The probe: a class name holding NUL cut the text report short at that name.
  const fs::path config =
      write_config("nul.json", {{"data", {{"class_names", {std::string("zero\0hidden", 11), "classB", "classC"}}}}});
  const fs::path out = dir_ / "run";
  const CliResult r = run(train_args(out, {}, {}, config), 120);
  if (r.exit_code != 0) {
    EXPECT_REFUSED(r, "data.class_names");
    return;
  }
  const CliResult ev = run({"eval", "--checkpoint", (out / "best.safetensors").string(), "--data", data_.string()});
  if (ev.exit_code != 0) {
    EXPECT_REFUSED(ev, "class_names");
    return;
  }
  for (const char* after : {"classB", "classC", "weighted avg"}) {
    EXPECT_CONTAINS(ev.out, after);
    EXPECT_CONTAINS(r.out, after);  // train's own test-set report
  }
}

TEST_F(HostileInput, PredictTakesTheFourDimensionalRgbIdxThatTrainTakes) {
  // The probe: `predict` rejected the channels-last [N, H, W, 3] IDX files that `train` reads.
  const std::string rgb = (dir_ / "rgb.safetensors").string();
  test::write_tiny_vit_checkpoint(rgb, kSide, 3);
  Bytes pixels(size_t(2 * kSide * kSide * 3));
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 13 % 256);
  const fs::path images = dir_ / "rgb-images-idx3-ubyte";
  write_bytes(images, idx_file({2, uint32_t(kSide), uint32_t(kSide), 3}, pixels));
  const CliResult r = run({"predict", "--checkpoint", rgb, "--input", images.string(), "--json"});
  ASSERT_TRUE(r.exited && r.exit_code == 0) << r.err;
  const json out = json::parse(r.out);
  EXPECT_EQ(out.at("predictions").size(), 2u);
}

}  // namespace
}  // namespace heed
