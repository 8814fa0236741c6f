#include "heed/train/options.h"

namespace heed::train {

void validate(const TrainOptions& o) {
  HEED_CHECK(o.min_lr <= o.lr, "config: train.min_lr must be in [0, lr = ", o.lr, "], got ", o.min_lr);
  HEED_CHECK(o.warmup_epochs <= double(o.epochs), "config: train.warmup_epochs must be in [0, epochs = ",
             o.epochs, "], got ", o.warmup_epochs);
}

}  // namespace heed::train
