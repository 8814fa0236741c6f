#include "heed/kernels/simd.h"

#include <hwy/highway.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "heed/core/error.h"

namespace heed::kernels::simd {

namespace {
// Single-bit target masks of `targets`, best (lowest bit) first.
std::vector<int64_t> bits_of(int64_t targets) {
  std::vector<int64_t> out;
  for (; targets != 0; targets &= targets - 1) out.push_back(targets & -targets);
  return out;
}

std::vector<std::string> names_of(int64_t targets) {
  std::vector<std::string> out;
  for (int64_t t : bits_of(targets)) out.emplace_back(hwy::TargetName(t));
  return out;
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}
}  // namespace

std::vector<std::string> compiled_targets() { return names_of(HWY_TARGETS); }

std::vector<std::string> supported_targets() {
  return names_of(hwy::SupportedTargets() & HWY_TARGETS);
}

std::string chosen_target() {
  const std::vector<std::string> names = supported_targets();
  return names.empty() ? hwy::TargetName(HWY_STATIC_TARGET) : names.front();
}

void limit_targets(const std::string& name) {
  for (int64_t t : bits_of(HWY_TARGETS)) {
    if (upper(name) != hwy::TargetName(t)) continue;
    hwy::DisableTargets(t - 1);  // every better target has a lower bit
    return;
  }
  std::string known;
  for (const std::string& n : compiled_targets()) known += (known.empty() ? "" : ", ") + n;
  detail::fail("HEED_SIMD: unknown SIMD target '", name, "' (this build has ", known, ")");
}

void limit_targets_from_env() {
  const char* value = std::getenv("HEED_SIMD");
  if (value && *value) limit_targets(value);
}

}  // namespace heed::kernels::simd
