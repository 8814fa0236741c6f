// Config structs declare their fields once: a `visit(V& v, Struct& s)` function lists each field
// as v("key", s.member, rule). The same list drives strict parsing (ConfigReader: types, ranges,
// unknown keys, errors naming the dotted key), serialisation (ConfigWriter: to_json, what
// checkpoints store) and the resume check (ConfigWriter with `result_only`, which leaves out the
// fields marked as not changing the result). Cross-field checks (min_lr <= lr, heads dividing
// dim) stay in each struct's validate().
#pragma once

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "heed/train/config_json.h"

namespace heed::train {

// What a field's value may be, beyond its type.
struct FieldRule {
  std::optional<double> min, max;
  bool min_exclusive = false, max_exclusive = false;
  std::vector<std::string> one_of;  // for strings
  bool result_neutral = false;      // may change on --resume: it cannot change the result
  bool allow_empty = true;          // for strings and lists
  bool omit_when_empty = false;     // lists: written only when they hold something, numbers only
                                    // when not 0 (keys added later, so configs written before
                                    // them read back equal)
};

namespace rule {
inline FieldRule any() { return {}; }
inline FieldRule range(std::optional<double> lo, std::optional<double> hi, bool lo_open = false,
                       bool hi_open = false) {
  FieldRule r;
  r.min = lo;
  r.max = hi;
  r.min_exclusive = lo_open;
  r.max_exclusive = hi_open;
  return r;
}
inline FieldRule positive() { return range(0, std::nullopt, true); }
inline FieldRule non_negative() { return range(0, std::nullopt); }
inline FieldRule at_least(double v) { return range(v, std::nullopt); }
// [lo, hi], or [lo, hi) with hi_open.
inline FieldRule in(double lo, double hi, bool hi_open = false) { return range(lo, hi, false, hi_open); }
// (lo, hi)
inline FieldRule between(double lo, double hi) { return range(lo, hi, true, true); }
inline FieldRule one_of(std::vector<std::string> values) {
  FieldRule r;
  r.one_of = std::move(values);
  return r;
}
inline FieldRule neutral(FieldRule r = {}) {
  r.result_neutral = true;
  return r;
}
inline FieldRule omitted_when_empty(FieldRule r = {}) {
  r.omit_when_empty = true;
  return r;
}
inline FieldRule non_empty(FieldRule r = {}) {
  r.allow_empty = false;
  return r;
}
}  // namespace rule

// Reads every visited field from a Section (absent keys keep the struct's default), then checks
// the rule; the caller calls finish() on the Section to reject keys nobody read.
class ConfigReader {
 public:
  explicit ConfigReader(Section& section) : section_(section) {}

  template <class T>
  void operator()(const char* key, T& field, const FieldRule& r = {}) {
    if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      read_list(key, field, r);
    } else if constexpr (std::is_same_v<T, std::vector<double>>) {
      read_numbers(key, field, r);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
      read_integers(key, field, r);
    } else {
      field = section_.get<T>(key, field);
      if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) check_range(key, double(field), r);
      if constexpr (std::is_same_v<T, std::string>) check_string(key, field, r);
    }
  }

 private:
  void read_list(const char* key, std::vector<std::string>& field, const FieldRule& r);
  // Finite numbers, each within the rule's range.
  void read_numbers(const char* key, std::vector<double>& field, const FieldRule& r);
  // Whole numbers, each within the rule's range.
  void read_integers(const char* key, std::vector<int64_t>& field, const FieldRule& r);
  void check_range(const char* key, double value, const FieldRule& r) const;
  void check_string(const char* key, const std::string& value, const FieldRule& r) const;
  Section& section_;
};

// Writes every visited field into a JSON object; with `result_only`, skips result-neutral ones.
class ConfigWriter {
 public:
  ConfigWriter(nlohmann::json& out, bool result_only) : out_(out), result_only_(result_only) {}
  template <class T>
  void operator()(const char* key, const T& field, const FieldRule& r = {}) {
    if (result_only_ && r.result_neutral) return;
    if constexpr (requires { field.empty(); })
      if (r.omit_when_empty && field.empty()) return;
    if constexpr (std::is_arithmetic_v<T>)
      if (r.omit_when_empty && field == T{}) return;
    out_[key] = field;
  }

 private:
  nlohmann::json& out_;
  bool result_only_;
};

// Parses section `name` of `top` into `s` with visit(reader, s), rejecting unread keys. `visit`
// is found by argument-dependent lookup: declare it in the struct's namespace.
template <class S>
void read_section(Section& top, const char* name, S& s) {
  Section section = top.child(name);
  ConfigReader reader(section);
  visit(reader, s);
  section.finish();
}

// A task's whole config: the optional "task" key (must be `task`), then the "model", "train"
// and "data" sections of `c` (any struct with those three members), no other top-level key,
// and the train section's cross-field checks.
template <class Config>
Config read_task_config(const nlohmann::json& j, const char* task) {
  Config c;
  Section top(j, "");
  const std::string name = top.get<std::string>("task", task);
  HEED_CHECK(name == task, "config: task \"", name, "\" is not ", task);
  read_section(top, "model", c.model);
  read_section(top, "train", c.train);
  read_section(top, "data", c.data);
  top.finish();
  validate(c.train);
  return c;
}

template <class S>
nlohmann::json section_json(const S& s, bool result_only = false) {
  nlohmann::json out = nlohmann::json::object();
  ConfigWriter writer(out, result_only);
  S copy = s;  // visit takes a mutable struct; the writer only reads
  visit(writer, copy);
  return out;
}

// The inverse of read_task_config: {"task", "model", "train", "data"}; `result_only` keeps the
// fields that can change results (the resume comparison).
template <class Config>
nlohmann::json task_config_json(const char* task, const Config& c, bool result_only = false) {
  return {{"task", task},
          {"model", section_json(c.model, result_only)},
          {"train", section_json(c.train, result_only)},
          {"data", section_json(c.data, result_only)}};
}

}  // namespace heed::train
