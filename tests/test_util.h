// Small helpers shared by test files.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

// Expects `part` somewhere in `text` (an error message, a report), printing both when not.
#define EXPECT_CONTAINS(text, part)                                                              \
  do {                                                                                           \
    const std::string text_ = (text), part_ = (part);                                            \
    EXPECT_NE(text_.find(part_), std::string::npos) << "\"" << part_ << "\" not in: " << text_; \
  } while (0)

namespace heed::test {

// The message of the heed::Error that `f` throws, or "(no error)".
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

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

// The largest absolute error, and the largest relative error where |want| > floor: what a
// tolerance comment quotes. Set HEED_TEST_PRINT_ERRORS=1 to have report_errors print them.
struct Errors {
  double max_abs = 0, max_rel = 0;
};
template <class Got, class Want>
Errors measured_errors(const Got& got, const Want& want, double floor = 1e-3) {
  Errors e;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) {
    const double d = std::abs(double(got[i]) - double(want[i]));
    if (!std::isfinite(d)) continue;
    e.max_abs = std::max(e.max_abs, d);
    if (std::abs(double(want[i])) > floor) e.max_rel = std::max(e.max_rel, d / std::abs(double(want[i])));
  }
  return e;
}
template <class Got, class Want>
void report_errors(const std::string& what, const Got& got, const Want& want) {
  static const bool on = std::getenv("HEED_TEST_PRINT_ERRORS") != nullptr;
  if (!on) return;
  const Errors e = measured_errors(got, want);
  std::printf("errors %-50s abs %.3g rel %.3g\n", what.c_str(), e.max_abs, e.max_rel);
}

// Tests that need an oracle at run time (PyTorch, scikit-learn): skipped where it is absent on
// a developer's machine, a failure under CI=true, where scripts/setup-oracles.sh installs them.
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}
#define HEED_SKIP_WITHOUT_ORACLE(reason)                                                  \
  do {                                                                                    \
    if (::heed::test::in_ci()) {                                                          \
      FAIL() << "CI=true, so a missing oracle is an error (scripts/setup-oracles.sh): " \
             << reason;                                                                   \
    }                                                                                     \
    GTEST_SKIP() << reason;                                                               \
  } while (0)

}  // namespace heed::test
