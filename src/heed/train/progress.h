// Training progress on stderr: a one-line bar with loss, throughput and ETA when stderr is a
// terminal, plain periodic log lines otherwise (so logs in files stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace heed::train {

class Progress {
 public:
  Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t log_every);
  // After each step: running mean loss, samples in the step.
  void update(int64_t step, double loss, int64_t samples);
  void finish(const std::string& summary);  // ends the bar's line, prints the summary

 private:
  int64_t epoch_, epochs_, steps_, log_every_, samples_ = 0;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

std::string format_duration(double seconds);  // "1:05:09" / "3:07"

}  // namespace heed::train
