#include "heed/train/config_json.h"

#include "heed/io/atomic_file.h"
#include "heed/io/json_limits.h"

#include <set>
#include <vector>

namespace heed::train {

Section::Section(const nlohmann::json& json, std::string path) : json_(json), path_(std::move(path)) {
  HEED_CHECK(json_.is_object(), "config: ", path_.empty() ? "the top level" : path_,
             " must be an object, got ", json_.dump());
}

const nlohmann::json& Section::empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

Section Section::child(const std::string& key) {
  read_.insert(key);
  return Section(json_.contains(key) ? json_.at(key) : empty_object(), key_path(key));
}

const nlohmann::json* Section::raw(const std::string& key) {
  read_.insert(key);
  return json_.contains(key) ? &json_.at(key) : nullptr;
}

void Section::finish() const {
  for (auto it = json_.begin(); it != json_.end(); ++it)
    HEED_CHECK(read_.count(it.key()), "config: unknown key '", key_path(it.key()), "'");
}

namespace {
// nlohmann::json keeps the last of two equal keys; in a config that is almost always a mistake
// (an edit that meant to replace a line). The parser's callback sees every object's keys in
// order, so a stack of key sets finds the first repeat and the dotted path to it.
nlohmann::json parse_rejecting_duplicates(const std::string& text, const std::string& where) {
  struct Level {
    bool object;
    std::set<std::string> keys;
    std::string key;  // the key whose value is being read
  };
  std::vector<Level> stack;
  std::string duplicate;
  auto path_to = [&](const std::string& key) {
    std::string out;
    for (const Level& l : stack)
      if (l.object && !l.key.empty() && &l != &stack.back()) out += l.key + ".";
    return out + key;
  };
  using Event = nlohmann::json::parse_event_t;
  auto callback = [&](int, Event event, nlohmann::json& parsed) {
    switch (event) {
      case Event::object_start:
        stack.push_back({true, {}, {}});
        break;
      case Event::array_start:
        stack.push_back({false, {}, {}});
        break;
      case Event::object_end:
      case Event::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case Event::key:
        if (!stack.empty()) {
          const std::string key = parsed.get<std::string>();
          if (!stack.back().keys.insert(key).second && duplicate.empty()) duplicate = path_to(key);
          stack.back().key = key;
        }
        break;
      case Event::value:
        break;
    }
    return true;
  };
  nlohmann::json out;
  try {
    out = nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::exception& e) {
    detail::fail(where, ": not valid JSON: ", e.what());
  }
  HEED_CHECK(duplicate.empty(), where, ": duplicate key '", duplicate, "' (JSON would keep only the last one)");
  return out;
}
}  // namespace

nlohmann::json read_json_file(const std::string& path) {
  const std::vector<std::byte> bytes = io::read_file(path, 16 << 20);
  const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  io::check_json_depth(text, kMaxConfigDepth, path, "the JSON");
  return parse_rejecting_duplicates(text, path);
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  HEED_CHECK(eq != std::string::npos && eq > 0, "--set: expected key=value, got '", assignment, "'");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value;
  if (nlohmann::json::accept(text)) {
    io::check_json_depth(text, kMaxConfigDepth, "--set " + key, "the value");
    value = parse_rejecting_duplicates(text, "--set " + key);
  } else {
    value = text;  // a bare word is a string
  }
  nlohmann::json* node = &config;
  size_t start = 0;
  while (true) {
    const size_t dot = key.find('.', start);
    const std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    HEED_CHECK(node->is_object(), "--set ", key, ": '", key.substr(0, start ? start - 1 : 0),
               "' is not an object");
    if (dot == std::string::npos) {
      nlohmann::json& target = (*node)[part];
      // An object merges into a section key by key (JSON merge patch): `model={}` changes
      // nothing instead of dropping every model setting, `model={"dim":64}` sets model.dim.
      if (value.is_object() && target.is_object())
        target.merge_patch(value);
      else
        target = value;  // unknown keys are caught when the config is read
      return;
    }
    node = &(*node)[part];
    if (node->is_null()) *node = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace heed::train
