#include "heed/train/progress.h"

#include <unistd.h>

#include <cstdio>

namespace heed::train {

std::string format_duration(double seconds) {
  const int64_t s = seconds < 0 ? 0 : int64_t(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", long(s / 3600), long(s / 60 % 60), long(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", long(s / 60), long(s % 60));
  return buf;
}

Progress::Progress(int64_t epoch, int64_t epochs, int64_t steps, int64_t log_every,
                   const RunClock& run)
    : epoch_(epoch), epochs_(epochs), steps_(steps), log_every_(log_every), run_(run),
      terminal_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, int64_t global_step, double loss, int64_t samples) {
  samples_ += samples;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? double(samples_) / elapsed : 0;
  const double eta = step > 0 ? elapsed / double(step) * double(steps_ - step) : 0;
  const int64_t run_steps = global_step - run_.first_step;
  const double run_elapsed = std::chrono::duration<double>(now - run_.start).count();
  const double run_eta =
      run_steps > 0 ? run_elapsed / double(run_steps) * double(run_.total_steps - global_step) : 0;
  if (terminal_) {
    constexpr int kWidth = 24;
    const int filled = steps_ ? int(kWidth * step / steps_) : kWidth;
    std::string bar(size_t(filled), '=');
    if (filled < kWidth) bar += '>' + std::string(size_t(kWidth - filled - 1), ' ');
    std::fprintf(stderr, "\repoch %ld/%ld [%s] %ld/%ld loss %.4f %.0f samples/s ETA %s, run %s   ",
                 long(epoch_ + 1), long(epochs_), bar.c_str(), long(step), long(steps_), loss, rate,
                 format_duration(eta).c_str(), format_duration(run_eta).c_str());
  } else if (step % log_every_ == 0 || step == steps_) {
    std::fprintf(stderr, "epoch %ld/%ld step %ld/%ld loss %.4f %.0f samples/s ETA %s, run %s\n",
                 long(epoch_ + 1), long(epochs_), long(step), long(steps_), loss, rate,
                 format_duration(eta).c_str(), format_duration(run_eta).c_str());
  }
  std::fflush(stderr);
}

void Progress::finish(const std::string& summary) {
  if (terminal_) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "%s\n", summary.c_str());
  std::fflush(stderr);
}

}  // namespace heed::train
