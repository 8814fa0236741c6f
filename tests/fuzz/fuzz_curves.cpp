// libFuzzer target: a run's metrics.jsonl as `heed plot` reads it (interpret::parse_run_curves).
// Expected outcomes: curves, or heed::Error naming the file and line. Anything else (a crash, a
// sanitizer report, a nlohmann::json exception escaping) is a bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "heed/core/error.h"
#include "heed/interpret/curves.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const heed::interpret::RunCurves r = heed::interpret::parse_run_curves(text, "metrics.jsonl", "fuzz");
    if (r.epoch.size() != r.train_loss.size() || r.epoch.size() != r.val_loss.size() ||
        r.epoch.size() != r.val_metric.size())
      __builtin_trap();  // the series must stay aligned
  } catch (const heed::Error&) {
    // a clean rejection
  }
  return 0;
}
