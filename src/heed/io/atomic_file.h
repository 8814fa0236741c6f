// Whole-file I/O: crash-safe replacement of a file and size-capped reading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace heed::io {

// Replaces `path` with `bytes` so that a reader (or a crash) sees either the old file or the
// complete new one, never a mix: the bytes go to `<path>.tmp.<pid>.<random>` in the same
// directory, which is fsynced, renamed over `path`, and the directory is fsynced. On failure the
// temporary file is removed, `path` is left as it was, and heed::Error names `path` and the
// system error.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

// A regular file opened for reading: descriptor (the caller closes it) and size.
struct RegularFile {
  int fd = -1;
  uint64_t size = 0;
};
// Opens `path` for reading, refusing (heed::Error naming it) anything but a regular file: a FIFO,
// a device such as /dev/zero or a socket has no size to check first, and opening never blocks.
// Files of more than `max_bytes` bytes are refused before any read.
RegularFile open_regular_file(const std::string& path, uint64_t max_bytes);

// Reads the whole of `path` (a regular file, as open_regular_file). Throws heed::Error naming the file if it cannot be opened or read,
// or if it holds more than `max_bytes` bytes.
std::vector<std::byte> read_file(const std::string& path, uint64_t max_bytes);

}  // namespace heed::io
