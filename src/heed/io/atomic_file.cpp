#include "heed/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <random>
#include <utility>

#include "heed/core/error.h"

namespace heed::io {

namespace {

std::string errno_text() { return std::strerror(errno); }

// A crash test's fail point (tests/reliability/crash_safe_checkpoint_test.cpp): when
// HEED_FAILPOINT names `stage`, the process kills itself there with SIGKILL, exactly as a
// scheduler's kill -9 or an out-of-memory kill would land, but at a chosen instant instead of a
// timed one. Read at every call (a forked child may set it); unset in normal use, where this is
// a getenv per stage of a write that also makes several system calls.
void fail_point(const char* stage) {
  const char* armed = std::getenv("HEED_FAILPOINT");
  if (armed && std::strcmp(armed, stage) == 0) ::kill(::getpid(), SIGKILL);
}

// Closes a descriptor on scope exit (unless released); close errors are ignored here because
// the paths that care call close() explicitly and check it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// The directory holding `path`, for the fsync that makes a rename durable.
std::string parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string temp_name(const std::string& path) {
  std::random_device device;
  const uint64_t random = (uint64_t{device()} << 32) | device();
  char suffix[17];
  std::snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(random));
  return path + ".tmp." + std::to_string(::getpid()) + "." + suffix;
}

// Writes all of `bytes`, retrying short writes and EINTR; returns false with errno set on error.
bool write_all(int fd, std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return true;
}

// Owns the temporary file until it has been renamed into place; unlinks it otherwise.
class TempFile {
 public:
  explicit TempFile(std::string name) : name_(std::move(name)) {}
  ~TempFile() {
    if (!committed_) ::unlink(name_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& name() const { return name_; }
  void commit() { committed_ = true; }

 private:
  std::string name_;
  bool committed_ = false;
};

void fsync_dir(const std::string& path) {
  const std::string dir = parent_dir(path);
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  HEED_CHECK(fd.get() >= 0, "write_file_atomic: ", path, ": cannot open directory ", dir,
             " to sync it: ", errno_text());
  // Some file systems cannot sync directories and say EINVAL; the rename itself has happened.
  HEED_CHECK(::fsync(fd.get()) == 0 || errno == EINVAL, "write_file_atomic: ", path,
             ": cannot sync directory ", dir, ": ", errno_text());
}

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  const std::string tmp_name = temp_name(path);
  // O_EXCL: never follow or reuse something already at the temporary name.
  Fd fd(::open(tmp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  HEED_CHECK(fd.get() >= 0, "write_file_atomic: ", path, ": cannot create temporary file ",
             tmp_name, ": ", errno_text());
  TempFile tmp(tmp_name);
  fail_point("atomic-write:created");

  const size_t half = bytes.size() / 2;
  HEED_CHECK(write_all(fd.get(), bytes.first(half)), "write_file_atomic: ", path, ": cannot write ",
             tmp_name, ": ", errno_text());
  fail_point("atomic-write:half-written");
  HEED_CHECK(write_all(fd.get(), bytes.subspan(half)), "write_file_atomic: ", path,
             ": cannot write ", tmp_name, ": ", errno_text());
  HEED_CHECK(::fsync(fd.get()) == 0, "write_file_atomic: ", path, ": cannot sync ", tmp_name, ": ",
             errno_text());
  fail_point("atomic-write:synced");
  // close() can report a delayed write error (e.g. on NFS), so it is checked, not left to Fd.
  HEED_CHECK(::close(fd.release()) == 0, "write_file_atomic: ", path, ": cannot close ", tmp_name,
             ": ", errno_text());
  HEED_CHECK(::rename(tmp_name.c_str(), path.c_str()) == 0, "write_file_atomic: ", path,
             ": cannot rename ", tmp_name, " over it: ", errno_text());
  tmp.commit();
  fail_point("atomic-write:renamed");
  fsync_dir(path);
}

namespace {
const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a plain file";
}
}  // namespace

RegularFile open_regular_file(const std::string& path, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever, before fstat can
  // say what the file is. It is cleared again for the (regular-file) reads.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  HEED_CHECK(fd.get() >= 0, path, ": cannot open: ", errno_text());
  struct stat st {};
  HEED_CHECK(::fstat(fd.get(), &st) == 0, path, ": cannot stat: ", errno_text());
  // A stream (/dev/zero, /dev/urandom, a pipe) has no size to check before reading: heed reads
  // regular files only, so every limit below holds before the first byte is read.
  HEED_CHECK(S_ISREG(st.st_mode), path, ": not a regular file (", file_kind(st.st_mode),
             "); heed reads its inputs from regular files only");
  HEED_CHECK(static_cast<uint64_t>(st.st_size) <= max_bytes, path, ": is ", st.st_size,
             " bytes, more than the limit of ", max_bytes, " bytes for this kind of file");
  const int flags = ::fcntl(fd.get(), F_GETFL);
  HEED_CHECK(flags >= 0 && ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) == 0, path,
             ": cannot configure the descriptor: ", errno_text());
  return {fd.release(), static_cast<uint64_t>(st.st_size)};
}

std::vector<std::byte> read_file(const std::string& path, uint64_t max_bytes) {
  const RegularFile file = open_regular_file(path, max_bytes);
  Fd fd(file.fd);
  // The size from fstat is checked above; a file that grows meanwhile is read only up to the
  // limit. One spare byte lets EOF show without a regrow.
  std::vector<std::byte> bytes(static_cast<size_t>(file.size) + 1);
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) bytes.resize(std::min<uint64_t>(2 * used, max_bytes + 1));
    const ssize_t n = ::read(fd.get(), bytes.data() + used, bytes.size() - used);
    if (n < 0) {
      HEED_CHECK(errno == EINTR, path, ": cannot read: ", errno_text());
      continue;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
    HEED_CHECK(used <= max_bytes, path, ": grew past the limit of ", max_bytes, " bytes while being read");
  }
  bytes.resize(used);
  return bytes;
}

}  // namespace heed::io
