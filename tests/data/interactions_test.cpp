// Interaction logs: time order with ties broken by item id, duplicate rows, k-core filtering to
// a fixed point, dense ids, leave-one-out, and errors naming file, line and column. Expected
// values are worked out by hand from the small logs below.
#include "heed/data/interactions.h"

#include <gtest/gtest.h>

#include "heed/core/error.h"
#include "test_util.h"

namespace heed::data {
namespace {

std::string error_of(const std::string& path, const std::string& bytes, const InteractionColumns& c = {}) {
  try {
    read_interactions(parse_text_table(path, bytes), c);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error for " << path;
  return "";
}

TEST(Interactions, TimeOrderTiesByItemIdAndDuplicates) {
  // User 7: items 30 and 5 share time 100 (5 first by id), 12 at 50 comes before both; the
  // repeated row (7, 12, 50) is dropped, the repeat of 12 at time 200 stays.
  const std::string csv =
      "userId,movieId,rating,timestamp\n"
      "7,30,4,100\n7,5,3,100\n7,12,5,50\n7,12,5,50\n7,12,1,200\n"
      "2,30,1,1.5\n2,5,2,0.5\n2,99,2,3\n";
  const UserSequences s = build_sequences(read_interactions(parse_text_table("r.csv", csv), {}), {});
  EXPECT_EQ(s.duplicates, 1);
  EXPECT_EQ(s.users, (std::vector<int64_t>{2, 7}));
  // Dense ids in raw id order: 5 -> 1, 12 -> 2, 30 -> 3, 99 -> 4.
  EXPECT_EQ(s.raw_items, (std::vector<int64_t>{-1, 5, 12, 30, 99}));
  EXPECT_EQ(s.sequences[0], (std::vector<int32_t>{1, 3, 4}));     // 5 @0.5, 30 @1.5, 99 @3
  EXPECT_EQ(s.sequences[1], (std::vector<int32_t>{2, 1, 3, 2}));  // 12 @50, 5 @100, 30 @100, 12 @200
  EXPECT_EQ(s.interactions(), 7);
  const LeaveOneOut split{s.sequences[1]};
  EXPECT_EQ(split.train(), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(split.validation_target(), 3);
  EXPECT_EQ(split.test_input(), (std::vector<int32_t>{2, 1, 3}));
  EXPECT_EQ(split.test_target(), 2);
}

TEST(Interactions, KCoreRepeatsUntilBothHold) {
  // min 3 per user, 2 per item. Item 9 is seen once: removing it leaves user 3 with 2
  // interactions, so user 3 goes, which leaves item 8 with one user: it goes too, and then
  // user 1 (who had 8) is down to 3 and stays.
  const std::string tsv =
      "u\ti\tt\n"
      "1\t1\t1\n1\t2\t2\n1\t3\t3\n1\t8\t4\n"
      "2\t1\t1\n2\t2\t2\n2\t3\t3\n"
      "3\t8\t1\n3\t9\t2\n3\t1\t3\n";
  const InteractionColumns c{"u", "i", "t"};
  const UserSequences s = build_sequences(read_interactions(parse_text_table("r.tsv", tsv), c), {3, 2});
  EXPECT_EQ(s.users, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(s.raw_items, (std::vector<int64_t>{-1, 1, 2, 3}));
  EXPECT_EQ(s.dropped_users, 1);
  EXPECT_EQ(s.dropped_items, 2);
  EXPECT_EQ(s.sequences[0], (std::vector<int32_t>{1, 2, 3}));
  // A user with one or two interactions is dropped and counted by the default filter.
  const UserSequences short_users = build_sequences(
      read_interactions(parse_text_table("s.csv", "userId,movieId,timestamp\n1,1,1\n2,1,1\n2,2,2\n2,3,3\n"), {}), {});
  EXPECT_EQ(short_users.users, (std::vector<int64_t>{2}));
  EXPECT_EQ(short_users.dropped_users, 1);
}

TEST(Interactions, ErrorsNameFileLineAndColumn) {
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId,timestamp\n1,2,3\n1,x,4\n"),
                  "r.csv:3: column 'movieId': 'x' is not an integer id");
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId,timestamp\n1,2,yesterday\n"),
                  "r.csv:2: column 'timestamp': 'yesterday' is not a number");
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId,timestamp\n1,2,nan\n"), "is not a number");
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId,timestamp\n1.5,2,3\n"), "'1.5' is not an integer id");
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId\n1,2\n"), "r.csv:2: no field 'timestamp'");
  EXPECT_CONTAINS(error_of("r.jsonl", "{\"user\": 1, \"item\": 2, \"time\": 3}\n{\"user\": 1}\n",
                           {"user", "item", "time"}),
                  "r.jsonl:2: no field 'item'");
  EXPECT_CONTAINS(error_of("r.csv", "userId,movieId,timestamp\n"), "r.csv: no interactions");
  try {
    build_sequences(read_interactions(parse_text_table("r.csv", "userId,movieId,timestamp\n1,1,1\n"), {}), {});
    ADD_FAILURE() << "a log where no user has 3 interactions must be refused";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "r.csv: no user has 3 or more interactions");
  }
  EXPECT_THROW(build_sequences(InteractionLog{}, {2, 1}), Error);  // min_user_interactions < 3
}

}  // namespace
}  // namespace heed::data
