#include "heed/data/idx.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/tensor.h"

namespace heed::data {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// ---- helpers ----

// An IDX file spelled out byte by byte: magic 00 00 type ndims, big-endian dims, payload.
Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& payload, uint8_t type = 0x08) {
  Bytes file = {0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) file.push_back((d >> shift) & 0xff);
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

Bytes iota_bytes(size_t n, uint8_t start = 0) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(start + i * 7);
  return out;
}

// One gzip member made with zlib, independently of the reader.
Bytes gzip(const Bytes& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&stream, data.size()) + 64);
  stream.next_in = const_cast<Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error thrown";
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "\"" << part << "\" not in: " << text;
}

std::vector<int64_t> indices_of(const Tensor& t) {
  return std::vector<int64_t>(t.i64(), t.i64() + t.numel());
}

// Gives each test a fresh directory under ::testing::TempDir().
class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("heed_" + std::string(info->test_suite_name()) + "_" +
                                             info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string write(const std::string& name, const Bytes& bytes) const {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << p;
    return p;
  }

  // The error read_idx throws for a file holding `bytes`; it must start with the path.
  std::string read_error(const Bytes& bytes, const std::string& name = "x.idx") const {
    const std::string p = write(name, bytes);
    const std::string message = error_of([&] { read_idx(p); });
    EXPECT_EQ(message.rfind(p + ": ", 0), 0u) << message;
    return message;
  }

  fs::path dir_;
};

class IdxRead : public IdxTest {};
class IdxImages : public IdxTest {};

// ---- reading ----

TEST_F(IdxRead, ReadsRawFile) {
  const Bytes payload = iota_bytes(6);
  const IdxArray a = read_idx(write("a.idx", idx_file({2, 3}, payload)));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, payload);
}

TEST_F(IdxRead, ReadsGzipFileDetectedByMagicNotName) {
  const Bytes payload = iota_bytes(24, 3);
  const IdxArray a = read_idx(write("no_gz_suffix", gzip(idx_file({2, 3, 4}, payload))));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(a.data, payload);
}

TEST_F(IdxRead, ReadsFourDimensionsAndLargeDims) {
  const Bytes payload = iota_bytes(70000);  // a dimension above 65535 needs all 4 header bytes
  const IdxArray a = read_idx(write("a.idx", idx_file({1, 1, 70000, 1}, payload)));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{1, 1, 70000, 1}));
  EXPECT_EQ(a.data, payload);
}

TEST_F(IdxRead, ReadsPayloadsSpanningManyBuffers) {
  const Bytes payload = iota_bytes(1000003, 1);  // several 64 KiB reads and buffer growths
  const Bytes file = idx_file({1000003}, payload);
  EXPECT_EQ(read_idx(write("raw.idx", file)).data, payload);
  EXPECT_EQ(read_idx(write("z.idx.gz", gzip(file))).data, payload);
}

TEST_F(IdxRead, ReadsConcatenatedGzipMembers) {
  const Bytes file = idx_file({2, 5}, iota_bytes(10));
  const Bytes first(file.begin(), file.begin() + 7), second(file.begin() + 7, file.end());
  Bytes joined = gzip(first);
  const Bytes tail = gzip(second);
  joined.insert(joined.end(), tail.begin(), tail.end());
  const IdxArray a = read_idx(write("two.gz", joined));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(a.data, iota_bytes(10));
}

// ---- validation ----

TEST_F(IdxRead, MissingFile) {
  const std::string p = path("absent.idx");
  const std::string message = error_of([&] { read_idx(p); });
  EXPECT_EQ(message.rfind(p + ": cannot open", 0), 0u) << message;
}

TEST_F(IdxRead, TooShortForHeader) {
  expect_contains(read_error({}), "too short for an IDX header (0 bytes)");
  expect_contains(read_error({0, 0, 8}), "too short for an IDX header (3 bytes)");
  expect_contains(read_error(gzip({0, 0})), "too short for an IDX header (2 bytes)");
}

TEST_F(IdxRead, WrongMagic) {
  Bytes file = idx_file({2}, {1, 2});
  file[0] = 0x12;
  file[1] = 0xab;
  const std::string message = read_error(file);
  expect_contains(message, "not an IDX file");
  expect_contains(message, "12 ab 08 01");
}

TEST_F(IdxRead, WrongTypeIsNamed) {
  expect_contains(read_error(idx_file({1}, {0, 0, 0, 0}, 0x0d)),
                  "IDX data type 0x0d (float32) is not supported; only 0x08 (unsigned byte)");
  expect_contains(read_error(idx_file({1}, {0}, 0x09)), "0x09 (signed byte)");
  expect_contains(read_error(idx_file({1}, {0}, 0x42)), "0x42 (not an IDX type)");
}

TEST_F(IdxRead, DimensionCountOutOfRange) {
  expect_contains(read_error(idx_file({}, {})), "declares 0 dimensions; 1 to 4 are supported");
  expect_contains(read_error(idx_file({1, 1, 1, 1, 1}, {7})), "declares 5 dimensions");
}

TEST_F(IdxRead, TruncatedHeader) {
  Bytes file = idx_file({3, 4, 5}, {});
  file.erase(file.end() - 2, file.end());
  expect_contains(read_error(file), "IDX header is truncated (3 dimensions need 12 bytes");
}

TEST_F(IdxRead, ZeroDimension) {
  expect_contains(read_error(idx_file({10, 0, 28}, {})), "IDX dimension 1 is 0 (dims 10x0x28)");
}

TEST_F(IdxRead, HugeDimsAreRejectedFromTheHeader) {
  // The files are tiny: the claim alone must be rejected, without allocating for it.
  expect_contains(read_error(idx_file({65536, 16385}, {1, 2, 3})),
                  "IDX header claims 65536x16385 bytes, more than the limit of 1073741824 bytes");
  // Products that would overflow 64 bits are caught on the way.
  expect_contains(read_error(idx_file({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {})),
                  "more than the limit");
  expect_contains(read_error(gzip(idx_file({0xffffffff, 3}, {}))), "more than the limit");
}

TEST_F(IdxRead, TruncatedPayload) {
  const Bytes file = idx_file({60000, 28, 28}, iota_bytes(1000));
  EXPECT_EQ(
      read_error(file, "x.idx"),
      path("x.idx") + ": IDX header claims 60000x28x28 = 47040000 bytes but the file holds 1000");
  EXPECT_EQ(
      read_error(gzip(file), "x.gz"),
      path("x.gz") + ": IDX header claims 60000x28x28 = 47040000 bytes but the file holds 1000");
}

TEST_F(IdxRead, ClaimAtTheLimitIsAcceptedButNotTrusted) {
  // Exactly 1 GiB is allowed by the header check; the buffer grows only with data that arrives.
  const Bytes file = idx_file({1024, 1024, 1024}, {1, 2, 3});
  expect_contains(read_error(file),
                  "claims 1024x1024x1024 = 1073741824 bytes but the file holds 3");
  expect_contains(read_error(gzip(file), "x.gz"), "= 1073741824 bytes but the file holds 3");
}

TEST_F(IdxRead, TrailingBytes) {
  const Bytes file = idx_file({2, 3}, iota_bytes(8));
  EXPECT_EQ(
      read_error(file),
      path("x.idx") + ": IDX header claims 2x3 = 6 bytes but the file holds 8 (2 trailing bytes)");
  expect_contains(read_error(gzip(file), "x.gz"), "but the file holds 8 (2 trailing bytes)");
  // Lots of compressible trailing data is counted, not stored.
  Bytes big = idx_file({4}, Bytes(4 + 10000000, 0));
  expect_contains(read_error(gzip(big), "big.gz"),
                  "claims 4 = 4 bytes but the file holds 10000004 (10000000 trailing bytes)");
}

TEST_F(IdxRead, CorruptGzip) {
  const Bytes good = gzip(idx_file({2, 3}, iota_bytes(6)));
  Bytes bad_block = good;
  bad_block[10] = 0xff;  // first deflate byte: block type 3 is reserved
  expect_contains(read_error(bad_block, "a.gz"), "corrupt gzip data (invalid block type)");

  Bytes bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0x01;
  expect_contains(read_error(bad_crc, "b.gz"), "corrupt gzip data (incorrect data check)");

  // A trailer claiming a huge size is checked, never used to size a buffer.
  Bytes bad_length = good;
  for (size_t i = bad_length.size() - 4; i < bad_length.size(); ++i) bad_length[i] = 0xff;
  expect_contains(read_error(bad_length, "c.gz"), "corrupt gzip data (incorrect length check)");

  Bytes garbage_after = good;
  garbage_after.insert(garbage_after.end(), {'j', 'u', 'n', 'k'});
  expect_contains(read_error(garbage_after, "d.gz"), "corrupt gzip data");
}

TEST_F(IdxRead, TruncatedGzip) {
  const Bytes good = gzip(idx_file({2, 3}, iota_bytes(6)));
  for (size_t cut : {size_t{1}, size_t{4}, good.size() - 12}) {
    const Bytes bad(good.begin(), good.end() - static_cast<std::ptrdiff_t>(cut));
    expect_contains(read_error(bad, "t.gz"), "gzip data is truncated");
  }
}

// ---- image sets ----

TEST_F(IdxImages, LoadsGrayImagesAndLabels) {
  const Bytes pixels = {0, 255, 51, 102, 1, 254, 10, 20, 30, 40, 50, 60};
  const std::string images = write("i.idx", idx_file({2, 2, 3}, pixels));
  const std::string labels = write("l.idx.gz", gzip(idx_file({2}, {7, 3})));
  const ImageSet set = load_idx_images(images, labels);
  EXPECT_EQ(set.images.shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(set.images.dtype(), DType::F32);
  const std::vector<float> values = set.images.to_vector();
  for (size_t i = 0; i < pixels.size(); ++i)
    EXPECT_EQ(values[i], static_cast<float>(pixels[i]) / 255.0f) << i;
  EXPECT_EQ(values[0], 0.0f);
  EXPECT_EQ(values[1], 1.0f);
  EXPECT_EQ(set.labels.dtype(), DType::I64);
  EXPECT_EQ(indices_of(set.labels), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(set.num_classes, 8);
}

TEST_F(IdxImages, ChannelsLastImagesAreTransposed) {
  // One 2x2 RGB image, NHWC: pixel (y, x) has channels (10y+x, 100+10y+x, 200+10y+x).
  Bytes pixels;
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 2; ++x)
      for (int c = 0; c < 3; ++c) pixels.push_back(static_cast<uint8_t>(100 * c + 10 * y + x));
  const ImageSet set = load_idx_images(write("i.idx", idx_file({1, 2, 2, 3}, pixels)),
                                       write("l.idx", idx_file({1}, {0})));
  EXPECT_EQ(set.images.shape(), (Shape{1, 3, 2, 2}));
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 2; ++y)
      for (int x = 0; x < 2; ++x)
        EXPECT_EQ(set.images.at({0, c, y, x}), static_cast<float>(100 * c + 10 * y + x) / 255.0f);
  EXPECT_EQ(set.num_classes, 1);
}

TEST_F(IdxImages, CountMismatchNamesBothFiles) {
  const std::string images = write("i.idx", idx_file({3, 1, 1}, {1, 2, 3}));
  const std::string labels = write("l.idx", idx_file({2}, {0, 1}));
  const std::string message = error_of([&] { load_idx_images(images, labels); });
  EXPECT_EQ(message, images + " holds 3 images but " + labels + " holds 2 labels");
}

TEST_F(IdxImages, WrongRanks) {
  const std::string flat = write("flat.idx", idx_file({3, 4}, iota_bytes(12)));
  const std::string labels = write("l.idx", idx_file({3}, {0, 1, 2}));
  const std::string images = write("i.idx", idx_file({3, 1, 1}, {1, 2, 3}));
  const std::string wide_labels = write("l2.idx", idx_file({3, 1}, {0, 1, 2}));
  expect_contains(error_of([&] { load_idx_images(flat, labels); }),
                  flat + ": image IDX must have dims [N, H, W] or [N, H, W, C], not 3x4");
  expect_contains(error_of([&] { load_idx_images(images, wide_labels); }),
                  wide_labels + ": label IDX must have dims [N], not 3x1");
}

TEST_F(IdxImages, SplitPrefersGzipAndFallsBackToRaw) {
  // The .gz images say 9, the raw ones 1: the loaded value shows which file was used.
  write("train-images-idx3-ubyte.gz", gzip(idx_file({1, 1, 1}, {9})));
  write("train-images-idx3-ubyte", idx_file({1, 1, 1}, {1}));
  write("train-labels-idx1-ubyte", idx_file({1}, {4}));
  const ImageSet set = load_idx_split(dir_.string(), "train");
  EXPECT_EQ(set.images.at({0, 0, 0, 0}), 9.0f / 255.0f);
  EXPECT_EQ(indices_of(set.labels), (std::vector<int64_t>{4}));
  EXPECT_EQ(set.num_classes, 5);
  // A trailing slash on the directory is fine.
  EXPECT_EQ(load_idx_split(dir_.string() + "/", "train").num_classes, 5);
}

TEST_F(IdxImages, SplitMissingFileListsNamesTried) {
  write("t10k-images-idx3-ubyte", idx_file({1, 1, 1}, {9}));
  const std::string message = error_of([&] { load_idx_split(dir_.string(), "t10k"); });
  expect_contains(message, "no labels file");
  expect_contains(message, path("t10k-labels-idx1-ubyte.gz"));
  expect_contains(message, path("t10k-labels-idx1-ubyte"));
  expect_contains(error_of([&] { load_idx_split(dir_.string(), "train"); }),
                  path("train-images-idx3-ubyte.gz") + " and " + path("train-images-idx3-ubyte"));
}

}  // namespace
}  // namespace heed::data
