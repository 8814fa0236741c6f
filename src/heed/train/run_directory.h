// A training run's output directory, claimed for the run's lifetime so that no run is lost or
// mixed with another:
//  - an exclusive lock (flock on <dir>/lock, which holds the writer's PID): a second writer,
//    in this or another process, fails at once naming the holder;
//  - a directory that already holds a run (last/best checkpoint, metrics.jsonl) is refused
//    unless the run continues (Resume) or is moved aside first (Overwrite: to
//    <dir>.replaced-<UTC time>, never deleted);
//  - the directory must be writable (checked by creating the lock file).
// Claimed once, by `heed train` before any data is read, and again by the trainer for library
// callers: a claim of a directory this process already holds shares that claim.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace heed::train {

enum class RunMode { Fresh, Resume, Overwrite };

class RunDirectory {
 public:
  // Claims `dir` (created if absent) for a run in `mode`; heed::Error naming the directory when
  // it is locked, holds a run that `mode` does not allow replacing, or cannot be written.
  static std::shared_ptr<RunDirectory> claim(const std::string& dir, RunMode mode);
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::string& path() const { return path_; }
  // Where Overwrite moved the previous run, or empty.
  const std::string& moved_to() const { return moved_to_; }

  // The files of a run in `dir` that exist (last.safetensors, best.safetensors, metrics.jsonl).
  static std::vector<std::string> run_files(const std::string& dir);

 private:
  RunDirectory(std::string path, std::string key, int lock_fd);
  std::string path_, key_, moved_to_;
  int lock_fd_;
};

}  // namespace heed::train
