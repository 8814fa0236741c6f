#include "heed/train/run_directory.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>

#include "heed/core/error.h"

namespace heed::train {

namespace fs = std::filesystem;

namespace {
constexpr const char* kLockName = "lock";
const char* const kRunFiles[] = {"last.safetensors", "best.safetensors", "metrics.jsonl"};

// Claims this process holds, by canonical path: flock conflicts between two descriptors of one
// process too, so a second claim (the trainer's, after the CLI's) must share the first.
std::recursive_mutex g_mutex;
std::map<std::string, std::weak_ptr<RunDirectory>>& held() {
  static std::map<std::string, std::weak_ptr<RunDirectory>> claims;
  return claims;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// "<dir>.replaced-20261202-013000" (then -2, -3, ... if taken): beside the run, so a move is a
// rename on the same file system.
std::string aside_name(const std::string& dir) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  std::string base = fs::path(dir).lexically_normal().string();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  std::string name = base + ".replaced-" + stamp;
  for (int i = 2; fs::exists(name); ++i) name = base + ".replaced-" + stamp + "-" + std::to_string(i);
  return name;
}

// The holder's PID as the lock file says, for the message.
std::string holder_of(int fd) {
  char text[32] = {};
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  std::string pid = n > 0 ? std::string(text, size_t(n)) : "";
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}
}  // namespace

std::vector<std::string> RunDirectory::run_files(const std::string& dir) {
  std::vector<std::string> found;
  for (const char* name : kRunFiles)
    if (fs::exists(fs::path(dir) / name)) found.push_back(name);
  return found;
}

std::shared_ptr<RunDirectory> RunDirectory::claim(const std::string& dir, RunMode mode) {
  HEED_CHECK(!dir.empty(), "train: the output directory (--out) is empty");
  std::error_code error;
  fs::create_directories(dir, error);
  HEED_CHECK(!error, dir, ": cannot create the output directory: ", error.message());
  HEED_CHECK(fs::is_directory(dir), dir, ": the output directory is not a directory");
  const std::string key = fs::canonical(dir).string();
  std::lock_guard<std::recursive_mutex> guard(g_mutex);
  if (auto it = held().find(key); it != held().end())
    if (std::shared_ptr<RunDirectory> existing = it->second.lock()) return existing;

  const std::string lock_path = (fs::path(dir) / kLockName).string();
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  HEED_CHECK(fd >= 0, dir, ": cannot write in the output directory (", lock_path, ": ", std::strerror(errno), ")");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int code = errno;
    const std::string pid = holder_of(fd);
    ::close(fd);
    HEED_CHECK(code != EWOULDBLOCK, dir, ": in use by another training run (pid ", pid, " holds ", lock_path,
               "); wait for it to finish, or train into another --out");
    detail::fail(dir, ": cannot lock ", lock_path, ": ", std::strerror(code));
  }
  std::shared_ptr<RunDirectory> run(new RunDirectory(dir, key, fd));  // closes fd on any failure below
  const std::string pid = std::to_string(::getpid()) + "\n";
  HEED_CHECK(::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) == ssize_t(pid.size()), dir,
             ": cannot write in the output directory (", lock_path, ": ", std::strerror(errno), ")");

  const std::vector<std::string> existing = run_files(dir);
  if (mode == RunMode::Fresh)
    HEED_CHECK(existing.empty(), dir, ": already holds a run (", join(existing), "); continue it with "
               "--resume, or move it aside and start again with --overwrite");
  if (mode == RunMode::Overwrite && !existing.empty()) {
    // Everything but the lock moves, so the old run stays whole (metrics, checkpoints, anything
    // the user put beside them) and the new one starts in an empty directory.
    const std::string aside = aside_name(dir);
    fs::create_directories(aside, error);
    HEED_CHECK(!error, aside, ": cannot create it to move the previous run aside: ", error.message());
    for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
      if (entry.path().filename() == kLockName) continue;
      fs::rename(entry.path(), fs::path(aside) / entry.path().filename(), error);
      HEED_CHECK(!error, entry.path().string(), ": cannot move it to ", aside, ": ", error.message());
    }
    run->moved_to_ = aside;
  }
  held()[key] = run;
  return run;
}

RunDirectory::RunDirectory(std::string path, std::string key, int lock_fd)
    : path_(std::move(path)), key_(std::move(key)), lock_fd_(lock_fd) {}

RunDirectory::~RunDirectory() {
  // The lock file stays: removing it would let a third writer lock a fresh file while a second
  // still waits on the old one. Closing the descriptor releases the lock.
  ::close(lock_fd_);
  std::lock_guard<std::recursive_mutex> guard(g_mutex);
  auto it = held().find(key_);
  if (it != held().end() && it->second.expired()) held().erase(it);
}

}  // namespace heed::train
