#include "heed/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "heed/core/error.h"

namespace heed::optim {

void validate(const ScheduleOptions& o) {
  HEED_CHECK(o.kind == "cosine" || o.kind == "linear" || o.kind == "constant",
             "schedule: kind must be cosine, linear or constant, got '", o.kind, "'");
  HEED_CHECK(o.total_steps > 0, "schedule: total_steps must be > 0, got ", o.total_steps);
  HEED_CHECK(o.warmup_steps >= 0 && o.warmup_steps <= o.total_steps,
             "schedule: warmup_steps must be in [0, total_steps = ", o.total_steps, "], got ",
             o.warmup_steps);
  HEED_CHECK(std::isfinite(o.base_lr) && o.base_lr > 0.0f,
             "schedule: base_lr must be finite and > 0, got ", o.base_lr);
  HEED_CHECK(std::isfinite(o.min_lr) && o.min_lr >= 0.0f && o.min_lr <= o.base_lr,
             "schedule: min_lr must be in [0, base_lr = ", o.base_lr, "], got ", o.min_lr);
}

namespace {

// Fraction of the decay phase done at `step` (>= warmup_steps), in [0, 1].
double decay_progress(const ScheduleOptions& o, int64_t step) {
  const int64_t length = o.total_steps - o.warmup_steps;
  if (length == 0) return 1.0;  // all warmup: nothing left to decay over
  return std::min(1.0, double(step - o.warmup_steps) / double(length));
}

}  // namespace

float learning_rate(const ScheduleOptions& o, int64_t step) {
  validate(o);
  HEED_CHECK(step >= 0, "schedule: step must be >= 0, got ", step);
  const double base = o.base_lr, low = o.min_lr;
  if (step < o.warmup_steps) return float(base * double(step + 1) / double(o.warmup_steps));
  if (o.kind == "constant") return o.base_lr;
  const double p = decay_progress(o, step);
  if (o.kind == "linear") return float(low + (base - low) * (1.0 - p));
  return float(low + (base - low) * 0.5 * (1.0 + std::cos(std::numbers::pi * p)));
}

}  // namespace heed::optim
