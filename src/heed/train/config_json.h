// Strict reading of JSON configs: every key is read through a Section, which knows its dotted
// path, checks types and ranges, and rejects keys nobody read, so a typo ("lerning_rate") fails
// before training with a message naming the key.
#pragma once

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "heed/core/error.h"

namespace heed::train {

class Section {
 public:
  Section(const nlohmann::json& json, std::string path);

  // Reads `key` if present (else `fallback`); the JSON type must fit T.
  template <class T>
  T get(const std::string& key, T fallback);
  Section child(const std::string& key);  // an object (empty when absent)
  // The raw value (nullptr when absent), for arrays; marks the key read.
  const nlohmann::json* raw(const std::string& key);
  bool has(const std::string& key) const { return json_.contains(key); }
  // Throws naming the first key that was never read.
  void finish() const;
  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  const nlohmann::json& json_;
  std::string path_;
  mutable std::set<std::string> read_;
  static const nlohmann::json& empty_object();
};

template <class T>
T Section::get(const std::string& key, T fallback) {
  read_.insert(key);
  if (!json_.contains(key)) return fallback;
  const nlohmann::json& v = json_.at(key);
  const std::string where = key_path(key);
  if constexpr (std::is_same_v<T, bool>) {
    HEED_CHECK(v.is_boolean(), "config: ", where, " must be true or false, got ", v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    HEED_CHECK(v.is_number_integer(), "config: ", where, " must be an integer, got ", v.dump());
    // The value must fit T: a silent wrap would change its meaning (found by fuzzing).
    const bool fits = v.is_number_unsigned()
                          ? v.get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                          : v.get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                (std::is_unsigned_v<T> ||
                                 v.get<int64_t>() <= int64_t(std::numeric_limits<T>::max()));
    HEED_CHECK(fits, "config: ", where, " is out of range, got ", v.dump());
  } else if constexpr (std::is_floating_point_v<T>) {
    HEED_CHECK(v.is_number(), "config: ", where, " must be a number, got ", v.dump());
    // 4.4e38 is a JSON number but not a float (found by fuzzing). Compared as a double before
    // converting: converting an out-of-range double to float is undefined behaviour.
    const double x = v.get<double>();
    HEED_CHECK(std::isfinite(x) && std::fabs(x) <= double(std::numeric_limits<T>::max()),
               "config: ", where, " is out of range, got ", v.dump());
  } else {
    HEED_CHECK(v.is_string(), "config: ", where, " must be a string, got ", v.dump());
  }
  return v.get<T>();
}

// Deepest nesting accepted in a config (a real one needs 3): deeper input is rejected before
// parsing, so no hostile file can overflow the stack.
inline constexpr int kMaxConfigDepth = 64;

// Parses a config file (errors name the file and the JSON error position).
nlohmann::json read_json_file(const std::string& path);
// Applies "a.b.c=value": the value is parsed as JSON when it can be (numbers, true, objects),
// else taken as a string. The key must already exist in `config` unless `allow_new`.
void apply_override(nlohmann::json& config, const std::string& assignment);

}  // namespace heed::train
