// Training progress on stderr: a one-line bar with loss, throughput and two ETAs (this epoch,
// and the whole run) when stderr is a terminal, plain periodic log lines otherwise (so logs in
// files stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace heed::train {

// The run's clock, for the run ETA: when this process started training, the global step then,
// and the run's total steps. Time per step is measured over this process's steps (so it
// includes the evaluations between epochs).
struct RunClock {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  int64_t first_step = 0, total_steps = 0;
};

class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t log_every, const RunClock& run);
  // After each step: step within the epoch, global step, running mean loss, samples in the step.
  void update(int64_t step, int64_t global_step, double loss, int64_t samples);
  void finish(const std::string& summary);  // ends the bar's line, prints the summary

 private:
  int64_t epoch_, epochs_, steps_, log_every_, samples_ = 0;
  const RunClock& run_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

std::string format_duration(double seconds);  // "1:05:09" / "3:07"

}  // namespace heed::train
