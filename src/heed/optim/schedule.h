// Learning-rate schedules: linear warmup, then cosine or linear decay (or a constant rate).
//
// `step` is the 0-based index of the optimiser step about to run (the optimiser's step_count()
// before step()), so a training loop does
//   opt.set_lr(learning_rate(schedule, opt.step_count())); opt.step();
//
//   warmup  (step < warmup_steps):  base_lr * (step + 1) / warmup_steps
//     The first step already moves (PyTorch's LambdaLR recipes start at 0 and waste it); the
//     last warmup step reaches base_lr.
//   decay   (progress p = (step - warmup_steps) / (total_steps - warmup_steps), clamped to 1):
//     cosine:   min_lr + (base_lr - min_lr) * (1 + cos(pi * p)) / 2
//     linear:   min_lr + (base_lr - min_lr) * (1 - p)
//     constant: base_lr
//   So the rate is base_lr right after warmup and min_lr from step total_steps on (steps past the
//   end keep min_lr rather than wrapping around, as CosineAnnealingLR would).
#pragma once

#include <cstdint>
#include <string>

namespace heed::optim {

struct ScheduleOptions {
  std::string kind = "cosine";  // cosine | linear | constant
  int64_t warmup_steps = 0;     // >= 0 and <= total_steps
  int64_t total_steps = 0;      // > 0 (required)
  float base_lr = 0.0f;         // > 0 (required)
  float min_lr = 0.0f;          // in [0, base_lr]; unused by "constant"
};

// Throws heed::Error naming the bad field.
void validate(const ScheduleOptions& options);
// Validates, then evaluates the schedule at `step` (>= 0). Computed in double.
float learning_rate(const ScheduleOptions& options, int64_t step);

}  // namespace heed::optim
