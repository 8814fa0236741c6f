#include "heed/io/line_batches.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "heed/core/error.h"

namespace heed::io {

LineBatches::LineBatches(int fd, int64_t max_lines) : fd_(fd), max_lines_(max_lines) {
  HEED_CHECK(max_lines > 0, "--batch-size must be positive, got ", max_lines);
}

bool LineBatches::take_line(std::vector<std::string>& batch) {
  const size_t end = buffer_.find('\n');
  if (end == std::string::npos) {
    if (!eof_ || buffer_.empty()) return false;
    batch.push_back(std::move(buffer_));  // the last line has no '\n'
    buffer_.clear();
    return true;
  }
  batch.push_back(buffer_.substr(0, end));
  buffer_.erase(0, end + 1);
  return true;
}

bool LineBatches::fill(bool block) {
  if (eof_) return false;
  if (!block) {
    pollfd p{fd_, POLLIN, 0};
    int ready;
    while ((ready = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
    }
    if (ready <= 0) return false;  // nothing to read now (or poll cannot tell): send what we have
  }
  char chunk[1 << 16];
  ssize_t got;
  while ((got = ::read(fd_, chunk, sizeof chunk)) < 0 && errno == EINTR) {
  }
  HEED_CHECK(got >= 0, "reading the input: ", std::strerror(errno));
  if (got == 0) {
    eof_ = true;
    return false;
  }
  buffer_.append(chunk, size_t(got));
  return true;
}

std::vector<std::string> LineBatches::next() {
  std::vector<std::string> batch;
  while (int64_t(batch.size()) < max_lines_) {
    if (take_line(batch)) continue;
    // No whole line buffered: wait for one while the batch is empty, else only take what is ready.
    if (!fill(batch.empty()) && (eof_ ? buffer_.empty() : !batch.empty())) break;
  }
  return batch;
}

}  // namespace heed::io
