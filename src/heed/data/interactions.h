// Interaction logs (user, item, time) for sequential recommendation: read from any text table
// (CSV, TSV, JSONL; MovieLens's userId,movieId,rating,timestamp as it is), turned into one
// time-ordered item sequence per user with dense item ids, and split leave-one-out.
//
// Policies (docs/recommendation.md, tested):
//   ids: user and item ids are integers (MovieLens, RecBole's atomic files); anything else is an
//     error naming file, line and column. Times are numbers (integers or decimals).
//   order: a user's interactions by time, ties broken by raw item id (MovieLens has 31,945
//     ratings that share a user's timestamp; without a rule the order is the file's);
//   duplicates: rows with the same user, item and time are kept once and counted; the same item
//     at another time is a real repeat and stays;
//   k-core: items with fewer than min_item_interactions and users with fewer than
//     min_user_interactions are removed, repeatedly, until both hold;
//   short users: leave-one-out needs a training item, a validation item and a test item, so users
//     left with fewer than 3 interactions are dropped and counted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/data/text_table.h"

namespace heed::data {

struct InteractionColumns {
  std::string user = "userId", item = "movieId", time = "timestamp";
};

struct Interaction {
  int64_t user = 0, item = 0;  // raw ids
  double time = 0;
};

struct InteractionLog {
  std::string path;
  std::vector<Interaction> rows;
  int64_t duplicates = 0;  // identical (user, item, time) rows dropped
};

// The rows of `table` as interactions; every error names the file, the line and the column.
InteractionLog read_interactions(const TextTable& table, const InteractionColumns& columns);

struct SequenceFilter {
  int64_t min_user_interactions = 3;  // at least 3: one each for train, validation and test
  int64_t min_item_interactions = 1;
};

// One sequence of dense item ids per user. Dense ids run 1..items() in the order of the raw ids
// (0 is padding); users are in the order of their raw ids.
struct UserSequences {
  std::vector<int64_t> users;                    // raw user id of each sequence
  std::vector<std::vector<int32_t>> sequences;   // dense item ids, oldest first
  std::vector<int64_t> raw_items;                // dense id -> raw id; raw_items[0] = -1 (padding)
  int64_t dropped_users = 0, dropped_items = 0;  // removed by the filters
  int64_t duplicates = 0;                        // from the log
  int64_t items() const { return int64_t(raw_items.size()) - 1; }
  int64_t interactions() const;
};

UserSequences build_sequences(const InteractionLog& log, const SequenceFilter& filter);

// Leave-one-out: the last item is the test target, the second last the validation target, the
// rest is training history. At test time the input is the history plus the validation item.
struct LeaveOneOut {
  const std::vector<int32_t>& sequence;
  std::vector<int32_t> train() const { return {sequence.begin(), sequence.end() - 2}; }
  std::vector<int32_t> validation_input() const { return train(); }
  int32_t validation_target() const { return sequence[sequence.size() - 2]; }
  std::vector<int32_t> test_input() const { return {sequence.begin(), sequence.end() - 1}; }
  int32_t test_target() const { return sequence.back(); }
};

}  // namespace heed::data
