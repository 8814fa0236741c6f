// io::LineBatches over a pipe: a batch takes the lines that are ready (up to the limit) without
// waiting for more, blocks only for its first line, and keeps a final line without '\n'.
#include "heed/io/line_batches.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace heed::io {
namespace {

void write_all(int fd, const std::string& text) {
  ASSERT_EQ(::write(fd, text.data(), text.size()), ssize_t(text.size()));
}

TEST(LineBatches, TakesWhatIsReadyUpToTheLimit) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  LineBatches lines(fds[0], 2);
  write_all(fds[1], "one\ntwo\nthree\n");
  EXPECT_EQ(lines.next(), (std::vector<std::string>{"one", "two"}));
  // One line is ready and the writer is still open: the batch does not wait for a second.
  EXPECT_EQ(lines.next(), (std::vector<std::string>{"three"}));
  write_all(fds[1], "\npartial");  // an empty line, then a last line without '\n'
  ::close(fds[1]);
  EXPECT_EQ(lines.next(), (std::vector<std::string>{"", "partial"}));
  EXPECT_TRUE(lines.next().empty()) << "the end of the input";
  EXPECT_TRUE(lines.next().empty());
  ::close(fds[0]);
}

TEST(LineBatches, RefusesAnEmptyBatchSize) { EXPECT_ANY_THROW(LineBatches(0, 0)); }

}  // namespace
}  // namespace heed::io
