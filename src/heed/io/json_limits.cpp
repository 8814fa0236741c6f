#include "heed/io/json_limits.h"

#include "heed/core/error.h"

namespace heed::io {

void check_json_depth(std::string_view text, int max_depth, const std::string& source,
                      const char* what) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      HEED_CHECK(++depth <= max_depth, source, ": ", what, " nests deeper than ", max_depth,
                 " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace heed::io
