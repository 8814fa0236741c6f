#include "heed/train/options.h"

#include <algorithm>
#include <thread>

#include "heed/core/parallel.h"

namespace heed::train {

void validate(const TrainOptions& o) {
  HEED_CHECK(o.min_lr <= o.lr, "config: train.min_lr must be in [0, lr = ", o.lr, "], got ", o.min_lr);
  HEED_CHECK(o.warmup_epochs <= double(o.epochs), "config: train.warmup_epochs must be in [0, epochs = ",
             o.epochs, "], got ", o.warmup_epochs);
}

int64_t batch_rows(const TrainOptions& o, int64_t tokens) {
  return o.batch_tokens > 0 ? std::max<int64_t>(1, o.batch_tokens / std::max<int64_t>(tokens, 1)) : o.batch_size;
}

int replica_count(const TrainOptions& o) { return o.replicas > 0 ? o.replicas : num_threads(); }

void apply_threads(const TrainOptions& o) {
  if (o.threads == 0) return;
  // More threads than cores only time-slice the same cores (and every parallel region then waits
  // for a descheduled thread): 4x is room for hyperthreads and oversubscribed containers.
  const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  HEED_CHECK(o.threads <= 4 * cores, "config: train.threads = ", o.threads, " is more than 4x the ", cores,
             " hardware threads of this machine; use at most ", 4 * cores, " (0: one per core)");
  set_num_threads(o.threads);
}

}  // namespace heed::train
