#include "heed/train/config_schema.h"

#include <cmath>
#include <sstream>

namespace heed::train {

namespace {
std::string describe_range(const FieldRule& r) {
  std::ostringstream s;
  if (r.min && r.max) {
    s << "in " << (r.min_exclusive ? "(" : "[") << *r.min << ", " << *r.max << (r.max_exclusive ? ")" : "]");
  } else if (r.min) {
    s << (r.min_exclusive ? "> " : ">= ") << *r.min;
  } else if (r.max) {
    s << (r.max_exclusive ? "< " : "<= ") << *r.max;
  }
  return s.str();
}

std::string describe_choices(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i)
    out += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + ("\"" + choices[i] + "\"");
  return out;
}
}  // namespace

void ConfigReader::check_range(const char* key, double value, const FieldRule& r) const {
  const bool low = r.min && (r.min_exclusive ? !(value > *r.min) : !(value >= *r.min));
  const bool high = r.max && (r.max_exclusive ? !(value < *r.max) : !(value <= *r.max));
  HEED_CHECK(!low && !high, "config: ", section_.key_path(key), " must be ",
             describe_range(r), ", got ", value);
}

void ConfigReader::check_string(const char* key, const std::string& value, const FieldRule& r) const {
  HEED_CHECK(r.allow_empty || !value.empty(), "config: ", section_.key_path(key), " must not be empty");
  if (r.one_of.empty()) return;
  for (const std::string& choice : r.one_of)
    if (value == choice) return;
  detail::fail("config: ", section_.key_path(key), " must be ", describe_choices(r.one_of),
               ", got \"", value, "\"");
}

void ConfigReader::read_list(const char* key, std::vector<std::string>& field, const FieldRule& r) {
  const nlohmann::json* value = section_.raw(key);
  if (value) {
    const std::string where = section_.key_path(key);
    std::vector<std::string> items;
    if (value->is_string()) {  // one name is a list of one
      items.push_back(value->get<std::string>());
    } else {
      HEED_CHECK(value->is_array(), "config: ", where, " must be an array of strings, got ", value->dump());
      for (const nlohmann::json& item : *value) {
        HEED_CHECK(item.is_string(), "config: ", where, " must hold strings, got ", item.dump());
        items.push_back(item.get<std::string>());
      }
    }
    field = std::move(items);
  }
  HEED_CHECK(r.allow_empty || !field.empty(), "config: ", section_.key_path(key), " must not be empty");
}

void ConfigReader::read_numbers(const char* key, std::vector<double>& field, const FieldRule& r) {
  const nlohmann::json* value = section_.raw(key);
  if (value) {
    const std::string where = section_.key_path(key);
    HEED_CHECK(value->is_array(), "config: ", where, " must be an array of numbers, got ", value->dump());
    std::vector<double> items;
    for (const nlohmann::json& item : *value) {
      HEED_CHECK(item.is_number() && std::isfinite(item.get<double>()), "config: ", where,
                 " must hold finite numbers, got ", item.dump());
      const double x = item.get<double>();
      check_range(key, x, r);
      items.push_back(x);
    }
    field = std::move(items);
  }
  HEED_CHECK(r.allow_empty || !field.empty(), "config: ", section_.key_path(key), " must not be empty");
}

void ConfigReader::read_integers(const char* key, std::vector<int64_t>& field, const FieldRule& r) {
  const nlohmann::json* value = section_.raw(key);
  if (value) {
    const std::string where = section_.key_path(key);
    HEED_CHECK(value->is_array(), "config: ", where, " must be an array of whole numbers, got ", value->dump());
    std::vector<int64_t> items;
    for (const nlohmann::json& item : *value) {
      HEED_CHECK(item.is_number_integer(), "config: ", where, " must hold whole numbers, got ", item.dump());
      const int64_t x = item.get<int64_t>();
      check_range(key, double(x), r);
      items.push_back(x);
    }
    field = std::move(items);
  }
  HEED_CHECK(r.allow_empty || !field.empty(), "config: ", section_.key_path(key), " must not be empty");
}

}  // namespace heed::train
