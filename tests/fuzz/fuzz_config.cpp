// libFuzzer target: a training config as `heed train --config` reads it: nlohmann::json::parse
// on the input bytes (a JSON syntax error is the parser's expected outcome and is skipped), then
// heed::tasks::parse_config. A config that parses must round-trip the way a checkpoint stores it:
// parse_config(parse(to_json(c).dump())) succeeds and gives the same config.
//
// Expected outcomes: a config or heed::Error. Anything else (a crash, a sanitizer report, a
// nlohmann::json exception or any other exception type escaping parse_config) is a bug.
//
// Nesting depth: nlohmann 3.11's parser and destructor are iterative, but dump() (which
// parse_config's error messages call on the offending value) and copies recurse, so a value
// nested ~7,000 deep (ASan) or ~60,000 deep (release) overflows the stack: a known open finding
// (docs/reliability.md), checked by tests/fuzz/regressions_test.cpp. As the safetensors reader
// does for its header, inputs nesting deeper than kMaxDepth are skipped here, so that a run with
// a large -max_len keeps looking for new bugs instead of re-finding that one. The default
// -max_len (4096) cannot nest deeper than 2048 anyway.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "heed/core/error.h"
#include "heed/io/json_limits.h"
#include "heed/train/config_json.h"
#include "heed/tasks/image_classification.h"

namespace {

constexpr int kMaxDepth = 1000;

// Whether the input nests deeper than `limit` (the library's own scan, io::check_json_depth).
bool nests_deeper_than(std::string_view text, int limit) {
  try {
    heed::io::check_json_depth(text, limit, "fuzz input", "the JSON");
    return false;
  } catch (const heed::Error&) {
    return true;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (nests_deeper_than(std::string_view(reinterpret_cast<const char*>(data), size), kMaxDepth))
    return 0;  // the known stack overflow in dump(); see above
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;  // not JSON: read_json_file reports it as "<file>: not valid JSON: ..."
  }
  heed::tasks::ImageClassifierConfig config;
  try {
    config = heed::tasks::parse_config(json);
  } catch (const heed::Error&) {
    return 0;  // rejected with a message naming the key: the expected outcome
  }
  // An accepted config must read back from its resolved form as a checkpoint stores it (JSON
  // text: save_checkpoint dumps to_json, load_checkpoint parses it and calls parse_config), with
  // no error and to the same values.
  const nlohmann::json resolved = heed::tasks::to_json(config);
  const nlohmann::json reread = nlohmann::json::parse(resolved.dump());
  if (heed::tasks::to_json(heed::tasks::parse_config(reread)) != resolved) __builtin_trap();
  return 0;
}
