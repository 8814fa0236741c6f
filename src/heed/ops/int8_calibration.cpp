#include "heed/ops/int8_calibration.h"

#include <algorithm>
#include <atomic>

#include "heed/core/error.h"
#include "heed/kernels/int8_rows.h"

namespace heed {

namespace {
std::atomic<Int8Calibration*> g_active{nullptr};
}  // namespace

Int8Calibration::Int8Calibration() {
  Int8Calibration* none = nullptr;
  HEED_CHECK(g_active.compare_exchange_strong(none, this), "int8 calibration: another one is running");
}

Int8Calibration::~Int8Calibration() { g_active.store(nullptr); }

float Int8Calibration::input_range(const Int8Matrix& w) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = ranges_.find(&w);
  return it == ranges_.end() ? 0.f : it->second;
}

void Int8Calibration::record(const Int8Matrix& w, const float* x, int64_t n) {
  Int8Calibration* c = g_active.load();
  if (!c) return;
  const float amax = kernels::max_abs(x, n);  // outside the lock: replicas record in parallel
  std::lock_guard<std::mutex> lock(c->mutex_);
  float& range = c->ranges_[&w];
  range = std::max(range, amax);
}

}  // namespace heed
