// Small helpers shared by test files.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

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

}  // namespace heed::test
