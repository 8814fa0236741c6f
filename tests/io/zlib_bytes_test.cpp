// zlib byte strings (io/zlib_bytes.h) checked against zlib's own one-shot calls (compress /
// uncompress), which share no code with the streaming loop under test; damaged, truncated and
// padded streams and decompression bombs are refused by name.
#include "heed/io/zlib_bytes.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "heed/core/rng.h"
#include "test_util.h"

namespace heed::io {
namespace {

std::string random_bytes(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = char(rng.next_u64() & 0xff);
  return s;
}

// zlib's one-shot compress() at its default level.
std::string zlib_compress(const std::string& bytes) {
  uLongf size = compressBound(uLong(bytes.size()));
  std::string out(size, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(bytes.data()),
                     uLong(bytes.size())),
            Z_OK);
  out.resize(size);
  return out;
}

// zlib's one-shot uncompress() into a buffer of the known size.
std::string zlib_uncompress(const std::string& compressed, size_t size) {
  std::string out(size, '\0');
  uLongf got = size;
  EXPECT_EQ(uncompress(reinterpret_cast<Bytef*>(out.data()), &got, reinterpret_cast<const Bytef*>(compressed.data()),
                       uLong(compressed.size())),
            Z_OK);
  EXPECT_EQ(got, size);
  return out;
}

TEST(ZlibBytes, RoundTripsAgainstZlibsOneShotCalls) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "piece " + std::to_string(i % 97) + " ";
  for (const std::string& bytes : {std::string(), std::string("a"), text, random_bytes(300000, 1)}) {
    const std::string packed = deflate_bytes(bytes);
    EXPECT_EQ(zlib_uncompress(packed, bytes.size()), bytes);
    EXPECT_EQ(inflate_bytes(zlib_compress(bytes), bytes.size(), "x"), bytes);
    EXPECT_EQ(inflate_bytes(packed, bytes.size(), "x"), bytes);
  }
  // Repetitive text shrinks (several output chunks of 64 KiB are joined on the way back).
  EXPECT_LT(deflate_bytes(text).size(), text.size() / 10);
}

TEST(ZlibBytes, RefusesDamagedTruncatedPaddedAndOversizedStreams) {
  const std::string bytes = random_bytes(100000, 2) + std::string(100000, 'z');
  const std::string packed = deflate_bytes(bytes);
  EXPECT_CONTAINS(test::error_message([&] { inflate_bytes(packed.substr(0, packed.size() - 5), 1 << 20, "f.bin"); }),
                  "f.bin: compressed data is damaged or truncated");
  EXPECT_CONTAINS(test::error_message([&] { inflate_bytes(packed + "x", 1 << 20, "f.bin"); }),
                  "damaged or truncated");
  std::string flipped = packed;
  flipped[packed.size() / 2] ^= 0x55;
  EXPECT_CONTAINS(test::error_message([&] { inflate_bytes(flipped, 1 << 20, "f.bin"); }), "f.bin");
  EXPECT_CONTAINS(test::error_message([&] { inflate_bytes("", 1 << 20, "f.bin"); }), "truncated");
  // A bomb: 64 MiB of zeros is 64 KiB compressed; the cap stops it at 1 MiB.
  const std::string bomb = deflate_bytes(std::string(64 << 20, '\0'));
  EXPECT_LT(bomb.size(), 100000u);
  EXPECT_CONTAINS(test::error_message([&] { inflate_bytes(bomb, 1 << 20, "bomb.bin"); }),
                  "bomb.bin: compressed data inflates to more than 1048576 bytes");
}

}  // namespace
}  // namespace heed::io
