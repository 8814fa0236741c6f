// Error type and checks. Every failed check throws heed::Error with a message that names the
// operation and the offending values (shapes, keys, file names), so a user can act on it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace heed {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream message;
  (message << ... << parts);
  throw Error(message.str());
}
}  // namespace detail

}  // namespace heed

// HEED_CHECK(cond, "op: ", a, " does not match ", b) throws heed::Error built from the parts.
#define HEED_CHECK(cond, ...)                     \
  do {                                            \
    if (!(cond)) ::heed::detail::fail(__VA_ARGS__); \
  } while (0)
