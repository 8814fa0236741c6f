// The fuzz harnesses' input file: readers take a path, so each input is written to an
// in-memory file (memfd), or a per-process temporary file where memfd is unavailable.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace heed::fuzz {

// An in-memory file (or a per-process temporary file) rewritten for every input.
class InputFile {
 public:
  explicit InputFile(const char* what) {
    fd_ = ::memfd_create(what, MFD_CLOEXEC);
    if (fd_ >= 0) {
      path_ = "/proc/self/fd/" + std::to_string(fd_);
    } else {
      const char* dir = std::getenv("TMPDIR");
      path_ = std::string(dir && *dir ? dir : "/tmp") + "/heed_fuzz_" + what + "_" +
              std::to_string(::getpid());
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      temporary_ = true;
    }
    if (fd_ < 0) std::abort();
  }
  ~InputFile() {
    if (temporary_) ::unlink(path_.c_str());
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  // Replaces the content; the harness aborts if it cannot (not a finding in heed).
  void write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) std::abort();
    for (off_t at = 0; size > 0;) {
      const ssize_t n = ::pwrite(fd_, data, size, at);
      if (n <= 0) std::abort();
      data += n;
      at += n;
      size -= static_cast<size_t>(n);
    }
  }

 private:
  int fd_ = -1;
  std::string path_;
  bool temporary_ = false;
};

}  // namespace heed::fuzz
