// Small helpers shared by test files.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace heed::test {

// True in AddressSanitizer builds (GCC defines __SANITIZE_ADDRESS__; clang has __has_feature),
// where shadow memory and the quarantine make address-space and resident-set checks meaningless.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
inline constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// A "<field>: <n> kB" line of /proc/self/status (VmRSS, VmSize, ...) in bytes; -1 if absent.
inline int64_t proc_status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  const std::string prefix = std::string(field) + ":";
  for (std::string line; std::getline(status, line);)
    if (line.rfind(prefix, 0) == 0) return std::stoll(line.substr(prefix.size())) * 1024;
  return -1;
}

// Element-wise |got - want| <= atol + rtol |want|, failing (never passing) on any NaN, and on an
// infinity unless `want` holds the same infinity there. The message names the worst element.
// Every numeric comparison of the suite goes through this (or the gtest macros, which also fail
// on NaN): a plain `excess > worst` is false for NaN and would let a NaN through.
template <class Got, class Want>
::testing::AssertionResult all_close(const Got& got, const Want& want, double atol, double rtol) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << "sizes differ: " << got.size() << " vs " << want.size();
  double worst = -1;
  size_t worst_i = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    if (std::isnan(g) || std::isnan(w))
      return ::testing::AssertionFailure() << "NaN at element " << i << ": got " << g << ", want " << w;
    if (std::isinf(g) || std::isinf(w)) {
      if (g != w)
        return ::testing::AssertionFailure() << "element " << i << ": got " << g << ", want " << w;
      continue;
    }
    const double excess = std::abs(g - w) - atol - rtol * std::abs(w);
    if (excess > worst) {
      worst = excess;
      worst_i = i;
    }
  }
  if (worst > 0)
    return ::testing::AssertionFailure()
           << "element " << worst_i << ": got " << double(got[worst_i]) << ", want "
           << double(want[worst_i]) << " (|diff| exceeds atol " << atol << " + rtol " << rtol
           << " |want| by " << worst << ")";
  return ::testing::AssertionSuccess();
}

}  // namespace heed::test
