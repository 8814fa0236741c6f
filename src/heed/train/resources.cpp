#include "heed/train/resources.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "heed/core/error.h"

namespace heed::train {

namespace {
// "12.3 GiB", "1610300 GiB": fixed notation, never 1.6e+06.
std::string gib(double bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return text;
}
}  // namespace

uint64_t estimated_training_bytes(const TrainingFootprint& f) {
  const double floats = double(f.parameters) * (2.0 * double(std::max(f.replicas, 1)) + 2.0) +
                        double(f.activation_floats);
  const double bytes = floats * 4.0;
  return bytes > 1.8e19 ? ~uint64_t{0} : uint64_t(bytes);
}

uint64_t available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : ~uint64_t{0};
}

void check_training_memory(const TrainingFootprint& f, const std::string& what) {
  const uint64_t need = estimated_training_bytes(f), have = available_memory_bytes();
  HEED_CHECK(need <= have, "config: ", what, ": training would need about ", gib(double(need)), " (",
             f.parameters, " parameters: weights, gradients and AdamW moments; plus ",
             gib(double(f.activation_floats) * 4), " of activations per batch), more than the ", gib(double(have)),
             " of memory this machine has available; make the model or the batch smaller");
}

}  // namespace heed::train
