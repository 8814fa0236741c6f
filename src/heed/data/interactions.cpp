#include "heed/data/interactions.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <tuple>

#include "heed/core/error.h"

namespace heed::data {
namespace {

std::string where(const TextTable& table, const TextRecord& r, const std::string& column) {
  return table.path + ":" + std::to_string(r.line) + ": column '" + column + "'";
}

int64_t integer_of(const TextTable& table, const TextRecord& r, const std::string& column) {
  const std::string& text = field_of(table, r, column);
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  HEED_CHECK(ec == std::errc() && end == text.data() + text.size() && !text.empty(), where(table, r, column),
             ": '", text.substr(0, 40), "' is not an integer id");
  return value;
}

double time_of(const TextTable& table, const TextRecord& r, const std::string& column) {
  const std::string& text = field_of(table, r, column);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  HEED_CHECK(ec == std::errc() && end == text.data() + text.size() && !text.empty() && std::isfinite(value),
             where(table, r, column), ": '", text.substr(0, 40), "' is not a number (a time)");
  return value;
}

}  // namespace

InteractionLog read_interactions(const TextTable& table, const InteractionColumns& columns) {
  InteractionLog log;
  log.path = table.path;
  log.rows.reserve(table.records.size());
  for (const TextRecord& r : table.records)
    log.rows.push_back({integer_of(table, r, columns.user), integer_of(table, r, columns.item),
                        time_of(table, r, columns.time)});
  HEED_CHECK(!log.rows.empty(), table.path, ": no interactions");
  // The order every later step relies on: by user, then time, then raw item id.
  std::sort(log.rows.begin(), log.rows.end(), [](const Interaction& a, const Interaction& b) {
    return std::tie(a.user, a.time, a.item) < std::tie(b.user, b.time, b.item);
  });
  const auto same = [](const Interaction& a, const Interaction& b) {
    return a.user == b.user && a.item == b.item && a.time == b.time;
  };
  const size_t before = log.rows.size();
  log.rows.erase(std::unique(log.rows.begin(), log.rows.end(), same), log.rows.end());
  log.duplicates = int64_t(before - log.rows.size());
  return log;
}

int64_t UserSequences::interactions() const {
  int64_t n = 0;
  for (const auto& s : sequences) n += int64_t(s.size());
  return n;
}

UserSequences build_sequences(const InteractionLog& log, const SequenceFilter& filter) {
  HEED_CHECK(filter.min_user_interactions >= 3, "data.min_user_interactions (", filter.min_user_interactions,
             ") must be at least 3: leave-one-out needs a training, a validation and a test item");
  std::vector<char> keep(log.rows.size(), 1);
  std::map<int64_t, int64_t> all_users, all_items;
  for (const Interaction& r : log.rows) ++all_users[r.user], ++all_items[r.item];
  // k-core: removing a sparse item can make a user sparse and the other way round; repeat.
  for (bool changed = true; changed;) {
    changed = false;
    std::map<int64_t, int64_t> per_user, per_item;
    for (size_t i = 0; i < log.rows.size(); ++i)
      if (keep[i]) ++per_user[log.rows[i].user], ++per_item[log.rows[i].item];
    for (size_t i = 0; i < log.rows.size(); ++i) {
      if (!keep[i]) continue;
      if (per_user[log.rows[i].user] < filter.min_user_interactions ||
          per_item[log.rows[i].item] < filter.min_item_interactions) {
        keep[i] = 0;
        changed = true;
      }
    }
  }
  UserSequences out;
  out.duplicates = log.duplicates;
  std::map<int64_t, int32_t> dense;
  for (size_t i = 0; i < log.rows.size(); ++i)
    if (keep[i]) dense.emplace(log.rows[i].item, 0);
  out.raw_items.push_back(-1);
  for (auto& [raw, id] : dense) {
    id = int32_t(out.raw_items.size());
    out.raw_items.push_back(raw);
  }
  for (size_t i = 0; i < log.rows.size(); ++i) {
    if (!keep[i]) continue;
    if (out.users.empty() || out.users.back() != log.rows[i].user) {
      out.users.push_back(log.rows[i].user);
      out.sequences.emplace_back();
    }
    out.sequences.back().push_back(dense.at(log.rows[i].item));
  }
  out.dropped_users = int64_t(all_users.size() - out.users.size());
  out.dropped_items = int64_t(all_items.size()) - out.items();
  HEED_CHECK(!out.users.empty(), log.path, ": no user has ", filter.min_user_interactions,
             " or more interactions after filtering (data.min_user_interactions, data.min_item_interactions)");
  return out;
}

}  // namespace heed::data
