#include "heed/train/config_json.h"

#include "heed/io/atomic_file.h"
#include "heed/io/json_limits.h"

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

nlohmann::json read_json_file(const std::string& path) {
  const std::vector<std::byte> bytes = io::read_file(path, 16 << 20);
  const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  io::check_json_depth(text, kMaxConfigDepth, path, "the JSON");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    detail::fail(path, ": not valid JSON: ", e.what());
  }
}

void apply_override(nlohmann::json& config, const std::string& assignment) {
  const size_t eq = assignment.find('=');
  HEED_CHECK(eq != std::string::npos && eq > 0, "--set: expected key=value, got '", assignment, "'");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception&) {
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
      (*node)[part] = value;  // unknown keys are caught when the config is read
      return;
    }
    node = &(*node)[part];
    if (node->is_null()) *node = nlohmann::json::object();
    start = dot + 1;
  }
}

}  // namespace heed::train
