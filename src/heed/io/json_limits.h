// A guard every reader of outside JSON calls before parsing: nlohmann's parser and dump()
// recurse once per nesting level, so a hostile file nested 100,000 deep would overflow the stack.
#pragma once

#include <string>
#include <string_view>

namespace heed::io {

// Throws heed::Error "<source>: <what> nests deeper than <max_depth> levels" by scanning the raw
// text (strings skipped); unbalanced brackets are left for the parser to report.
void check_json_depth(std::string_view text, int max_depth, const std::string& source,
                      const char* what);

}  // namespace heed::io
