// Lines from a file descriptor, a batch at a time, for commands that stream (heed translate):
// a batch holds up to `max_lines` lines, and fewer when no more input is ready yet, so input
// piped from a file fills whole batches while a person typing gets each line back at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace heed::io {

class LineBatches {
 public:
  LineBatches(int fd, int64_t max_lines);
  // The next lines (without their '\n'; a final line without one counts), or an empty batch at
  // the end of the input. Blocks only while the batch is still empty. Throws on a read error.
  std::vector<std::string> next();

 private:
  bool take_line(std::vector<std::string>& batch);  // from buffer_; false when it holds no whole line
  bool fill(bool block);                            // more bytes; false at EOF or when none are ready
  int fd_;
  int64_t max_lines_;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace heed::io
