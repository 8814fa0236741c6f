#include "heed/io/safetensors.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
// Header-only xxHash (no link dependency): the expected checksums come from the definition.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "heed/core/error.h"
#include "heed/core/tensor.h"
#include "heed/io/atomic_file.h"

namespace heed::io {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::byte>;

constexpr const char* kSource = "t.safetensors";

// ---- helpers ----

// A file from a raw header string and data bytes, independent of the writer.
Bytes make_file(const std::string& header, const Bytes& data = {}) {
  Bytes file(8);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) file[i] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  for (char c : header) file.push_back(static_cast<std::byte>(c));
  file.insert(file.end(), data.begin(), data.end());
  return file;
}

Bytes bytes_of(std::initializer_list<int> values) {
  Bytes out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

template <class T>
Bytes raw_bytes(const std::vector<T>& values) {
  Bytes out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A one-tensor header: {"w": {<fields>}}.
std::string entry(const std::string& fields) { return "{\"w\":{" + fields + "}}"; }

// The message of the heed::Error that parsing `file` throws ("" and a failure if none).
std::string parse_error(const Bytes& file) {
  try {
    parse_safetensors(file, kSource);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "parse_safetensors accepted a bad file";
  return "";
}

// Checks that parsing fails with a message starting with the source and containing `parts`.
void expect_parse_error(const Bytes& file, std::initializer_list<std::string> parts) {
  const std::string message = parse_error(file);
  EXPECT_EQ(message.rfind(std::string(kSource) + ": ", 0), 0u) << message;
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "\"" << part << "\" not in: " << message;
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
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("heed_" + std::string(info->test_suite_name()) + "_" +
                                             info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

class Safetensors : public TempDirTest {};
class AtomicFile : public TempDirTest {};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

Bytes text_bytes(const std::string& text) {
  Bytes out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}

// ---- round trips ----

TEST_F(Safetensors, RoundTripF32AndI64) {
  const Tensor w = Tensor::from_vector({2, 3}, {1, -2, 3.5f, 0, 1e-30f, -7});
  const Tensor ids = Tensor::from_indices({4}, {0, -1, std::numeric_limits<int64_t>::max(), 42});
  const auto file = parse_safetensors(serialize_safetensors({{"w", w}, {"ids", ids}}, {}), kSource);
  ASSERT_EQ(file.tensors.size(), 2u);
  EXPECT_EQ(file.tensors[0].first, "w");
  EXPECT_EQ(file.tensors[1].first, "ids");
  EXPECT_EQ(file.get("w").dtype(), DType::F32);
  EXPECT_EQ(file.get("w").shape(), (Shape{2, 3}));
  EXPECT_EQ(file.get("w").to_vector(), w.to_vector());
  EXPECT_EQ(file.get("ids").dtype(), DType::I64);
  EXPECT_EQ(file.get("ids").shape(), (Shape{4}));
  EXPECT_EQ(indices_of(file.get("ids")), indices_of(ids));
  EXPECT_TRUE(file.metadata.empty());
  EXPECT_EQ(file.source, kSource);
}

// Narrow storage: listed tensors are stored as I8 / BF16 and read back as I64 / F32. BF16 is
// round to nearest, ties to even: 1 + 2^-8 (a tie) goes down to 1, 1 + 3 * 2^-8 (a tie) up to
// 1 + 2^-6, 1 + 2^-8 + 2^-12 up to 1 + 2^-7; values bf16 holds come back unchanged.
TEST_F(Safetensors, NarrowStorageStoresI8AndBf16) {
  const Tensor w = Tensor::from_vector({5}, {1 + 0x1p-8f, 1 + 3 * 0x1p-8f, 1 + 0x1p-8f + 0x1p-12f, -2.5f, 0.f});
  const Tensor q = Tensor::from_indices({2}, {-128, 127});
  NarrowStorage narrow;
  narrow.bf16 = {"w"};
  narrow.i8 = {"q"};
  const std::vector<std::byte> bytes = serialize_safetensors({{"w", w}, {"q", q}}, {}, narrow);
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), 8);
  const std::string text(reinterpret_cast<const char*>(bytes.data()) + 8, header_bytes);
  expect_contains(text, R"("w":{"dtype":"BF16","shape":[5],"data_offsets":[0,10]})");
  expect_contains(text, R"("q":{"dtype":"I8","shape":[2],"data_offsets":[10,12]})");
  const auto file = parse_safetensors(bytes, kSource);
  EXPECT_EQ(file.get("w").to_vector(), (std::vector<float>{1.f, 1 + 0x1p-6f, 1 + 0x1p-7f, -2.5f, 0.f}));
  EXPECT_EQ(indices_of(file.get("q")), (std::vector<int64_t>{-128, 127}));
  // An empty tensor stores no bytes either way (found by fuzz_safetensors: no buffer to copy).
  NarrowStorage empty;
  empty.bf16 = {"e"};
  const auto e = parse_safetensors(serialize_safetensors({{"e", Tensor::zeros({0, 3})}}, {}, empty), kSource);
  EXPECT_EQ(e.get("e").shape(), (Shape{0, 3}));

  NarrowStorage both;
  both.bf16 = both.i8 = {"q"};
  expect_contains(error_of([&] { serialize_safetensors({{"q", q}}, {}, both); }), "both as I8 and as BF16");
  NarrowStorage wrong;
  wrong.bf16 = {"q"};
  expect_contains(error_of([&] { serialize_safetensors({{"q", q}}, {}, wrong); }), "stored as BF16 but is");
  NarrowStorage missing;
  missing.bf16 = {"v"};
  expect_contains(error_of([&] { serialize_safetensors({{"w", w}}, {}, missing); }),
                  "\"v\" to store as BF16 is not among");
}

TEST_F(Safetensors, RoundTripScalar) {
  const auto file =
      parse_safetensors(serialize_safetensors({{"s", Tensor::full({}, 2.5f)}}, {}), kSource);
  EXPECT_EQ(file.get("s").shape(), Shape{});
  EXPECT_EQ(file.get("s").item(), 2.5f);
}

TEST_F(Safetensors, RoundTripEmptyTensors) {
  const auto file =
      parse_safetensors(serialize_safetensors({{"e", Tensor::zeros({0})},
                                               {"m", Tensor::zeros({3, 0}, DType::I64)},
                                               {"x", Tensor::from_vector({1}, {9})}},
                                              {}),
                        kSource);
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.get("e").shape(), (Shape{0}));
  EXPECT_EQ(file.get("m").shape(), (Shape{3, 0}));
  EXPECT_EQ(file.get("m").dtype(), DType::I64);
  EXPECT_EQ(file.get("x").item(), 9.0f);
}

TEST_F(Safetensors, RoundTripMetadata) {
  const std::map<std::string, std::string> metadata = {{"format", "pt"},
                                                       {"note", "quotes \" and \\ and ünï"}};
  const auto file =
      parse_safetensors(serialize_safetensors({{"w", Tensor::zeros({2})}}, metadata), kSource);
  EXPECT_EQ(file.metadata, metadata);
}

TEST_F(Safetensors, NonContiguousTensorIsWrittenInLogicalOrder) {
  const Tensor t = Tensor::from_vector({2, 3}, {1, 2, 3, 4, 5, 6}).transpose(0, 1);
  ASSERT_FALSE(t.is_contiguous());
  const auto file = parse_safetensors(serialize_safetensors({{"t", t}}, {}), kSource);
  EXPECT_EQ(file.get("t").shape(), (Shape{3, 2}));
  EXPECT_EQ(file.get("t").to_vector(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST_F(Safetensors, WriterPadsHeaderToMultipleOf8) {
  for (const std::string name :
       {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"}) {
    const Bytes file = serialize_safetensors({{name, Tensor::zeros({1})}}, {});
    uint64_t n = 0;
    std::memcpy(&n, file.data(), 8);
    EXPECT_EQ(n % 8, 0u) << name;
    EXPECT_EQ(file.size(), 8 + n + 4) << name;
    EXPECT_EQ(static_cast<char>(file[8]), '{');
  }
}

// The bytes are spelled out here, independently of the writer (the checksums from their
// definition: xxHash64 of each tensor's bytes, and of "format\0pt\0" for the metadata).
std::string xxh64_of(const Bytes& bytes) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(XXH64(bytes.data(), bytes.size(), 0)));
  return text;
}

TEST_F(Safetensors, ByteExactTinyFile) {
  const Bytes a = bytes_of({0x00, 0x00, 0x80, 0x3f,    // 1.0f
                            0x00, 0x00, 0x00, 0xc0});  // -2.0f
  const Bytes n = bytes_of({0x07, 0x00, 0x00, 0x00, 0, 0, 0, 0x00});  // int64 7
  const std::string sums = R"({\"__metadata__\":\")" + xxh64_of(text_bytes(std::string("format\0pt\0", 10))) +
                           R"(\",\"a\":\")" + xxh64_of(a) + R"(\",\"n\":\")" + xxh64_of(n) + R"(\"})";
  std::string header = R"({"__metadata__":{"format":"pt","heed.checksums":")" + sums + R"("},)"
                       R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("n":{"dtype":"I64","shape":[],"data_offsets":[8,16]}})";
  header.append((8 - header.size() % 8) % 8, ' ');  // padded so the data is 8-aligned
  Bytes expected(8);
  const uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) expected[size_t(i)] = static_cast<std::byte>((length >> (8 * i)) & 0xff);
  const Bytes header_bytes = text_bytes(header);
  expected.insert(expected.end(), header_bytes.begin(), header_bytes.end());
  expected.insert(expected.end(), a.begin(), a.end());
  expected.insert(expected.end(), n.begin(), n.end());

  const Bytes written = serialize_safetensors(
      {{"a", Tensor::from_vector({2}, {1.0f, -2.0f})}, {"n", Tensor::from_indices({}, {7})}},
      {{"format", "pt"}});
  EXPECT_EQ(written, expected);

  const auto file = parse_safetensors(expected, kSource);
  EXPECT_EQ(file.get("a").to_vector(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(*file.get("n").i64(), 7);
  EXPECT_EQ(file.metadata.at("format"), "pt");
}

TEST_F(Safetensors, TensorsComeInDataOffsetOrder) {
  const auto file =
      parse_safetensors(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                  R"("c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                  raw_bytes<float>({3, 2, 1})),
                        kSource);
  ASSERT_EQ(file.tensors.size(), 3u);
  EXPECT_EQ(file.tensors[0].first, "c");
  EXPECT_EQ(file.tensors[1].first, "b");
  EXPECT_EQ(file.tensors[2].first, "a");
  EXPECT_EQ(file.get("a").item(), 1.0f);
  EXPECT_EQ(file.get("c").item(), 3.0f);
}

// A 3-byte header puts the data at offset 11: loads must not assume alignment.
TEST_F(Safetensors, ReadsUnalignedData) {
  const std::string header = R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[1,13]}})";
  Bytes data = {std::byte{0xee}};
  const Bytes values = raw_bytes<float>({1.5f, -2.25f, 3});
  data.insert(data.end(), values.begin(), values.end());
  const auto file = parse_safetensors(make_file(header + " ", data), kSource);
  EXPECT_EQ(file.get("x").to_vector(), (std::vector<float>{1.5f, -2.25f, 3}));
}

TEST_F(Safetensors, ContainsAndGet) {
  const auto file =
      parse_safetensors(serialize_safetensors({{"w", Tensor::zeros({1})}}, {}), "model.st");
  EXPECT_TRUE(file.contains("w"));
  EXPECT_FALSE(file.contains("v"));
  const std::string message = error_of([&] { file.get("v"); });
  EXPECT_EQ(message.rfind("model.st: ", 0), 0u) << message;
  expect_contains(message, "\"v\"");
}

// ---- dtype conversions ----

TEST_F(Safetensors, F16ConvertsToF32) {
  const std::vector<uint16_t> halves = {
      0x3c00,  // 1
      0xc000,  // -2
      0x3555,  // 0x555 / 1024 * 2^-2 + 2^-2 = 0.333251953125
      0x7bff,  // 65504, largest finite
      0x0400,  // 2^-14, smallest normal
      0x0001,  // 2^-24, smallest subnormal
      0x03ff,  // 1023 * 2^-24, largest subnormal
      0x8000,  // -0
      0x7c00,  // inf
      0xfc00,  // -inf
      0x7e00,  // nan
  };
  const auto file = parse_safetensors(
      make_file(entry(R"("dtype":"F16","shape":[11],"data_offsets":[0,22])"), raw_bytes(halves)),
      kSource);
  const Tensor& t = file.get("w");
  ASSERT_EQ(t.dtype(), DType::F32);
  const float* v = t.f32();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 0.333251953125f);
  EXPECT_EQ(v[3], 65504.0f);
  EXPECT_EQ(v[4], std::ldexp(1.0f, -14));
  EXPECT_EQ(v[5], std::ldexp(1.0f, -24));
  EXPECT_EQ(v[6], 1023.0f * std::ldexp(1.0f, -24));
  EXPECT_EQ(v[7], 0.0f);
  EXPECT_TRUE(std::signbit(v[7]));
  EXPECT_EQ(v[8], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[9], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[10]));
}

TEST_F(Safetensors, BF16ConvertsToF32) {
  const std::vector<uint16_t> halves = {
      0x3f80,  // 1
      0xc049,  // -(1 + 73/128) * 2 = -3.140625
      0x0001,  // 2^-133 (a bf16 subnormal)
      0x7f80,  // inf
      0x7fc0,  // nan
      0x8000,  // -0
  };
  const auto file = parse_safetensors(
      make_file(entry(R"("dtype":"BF16","shape":[2,3],"data_offsets":[0,12])"), raw_bytes(halves)),
      kSource);
  const Tensor& t = file.get("w");
  ASSERT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  const float* v = t.f32();
  EXPECT_EQ(v[0], 1.0f);
  EXPECT_EQ(v[1], -3.140625f);
  EXPECT_EQ(v[2], std::ldexp(1.0f, -133));
  EXPECT_EQ(v[3], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_TRUE(std::signbit(v[5]));
}

TEST_F(Safetensors, F64ConvertsToF32) {
  const auto file =
      parse_safetensors(make_file(entry(R"("dtype":"F64","shape":[3],"data_offsets":[0,24])"),
                                  raw_bytes<double>({0.1, -1e300, 3.0})),
                        kSource);
  const float* v = file.get("w").f32();
  EXPECT_EQ(v[0], 0.1f);
  EXPECT_EQ(v[1], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[2], 3.0f);
}

TEST_F(Safetensors, IntegerDtypesConvertToI64) {
  Bytes data = raw_bytes<int32_t>({-5, 2147483647});          // I32 at [0, 8)
  for (const Bytes& more : {raw_bytes<int16_t>({-32768, 7}),  // I16 at [8, 12)
                            bytes_of({0x80, 0x7f}),           // I8 -128, 127 at [12, 14)
                            bytes_of({0xff, 0x00}),           // U8 255, 0 at [14, 16)
                            bytes_of({0x00, 0x01, 0x02})})    // BOOL at [16, 19)
    data.insert(data.end(), more.begin(), more.end());
  const auto file =
      parse_safetensors(make_file(R"({"i32":{"dtype":"I32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("i16":{"dtype":"I16","shape":[2],"data_offsets":[8,12]},)"
                                  R"("i8":{"dtype":"I8","shape":[2],"data_offsets":[12,14]},)"
                                  R"("u8":{"dtype":"U8","shape":[2],"data_offsets":[14,16]},)"
                                  R"("b":{"dtype":"BOOL","shape":[3],"data_offsets":[16,19]}})",
                                  data),
                        kSource);
  for (const auto& [name, t] : file.tensors) EXPECT_EQ(t.dtype(), DType::I64) << name;
  EXPECT_EQ(indices_of(file.get("i32")), (std::vector<int64_t>{-5, 2147483647}));
  EXPECT_EQ(indices_of(file.get("i16")), (std::vector<int64_t>{-32768, 7}));
  EXPECT_EQ(indices_of(file.get("i8")), (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(indices_of(file.get("u8")), (std::vector<int64_t>{255, 0}));
  EXPECT_EQ(indices_of(file.get("b")), (std::vector<int64_t>{0, 1, 1}));
}

// ---- validation: framing ----

TEST_F(Safetensors, RejectsFileShorterThan8Bytes) {
  expect_parse_error(bytes_of({1, 0, 0, 0, 0}), {"5 bytes", "8-byte header length"});
  expect_parse_error({}, {"0 bytes"});
}

TEST_F(Safetensors, RejectsHeaderLengthZero) {
  expect_parse_error(bytes_of({0, 0, 0, 0, 0, 0, 0, 0}), {"header length is 0"});
}

TEST_F(Safetensors, RejectsHeaderLengthOverLimit) {
  // 100 MiB + 1 = 0x06400001.
  expect_parse_error(bytes_of({0x01, 0x00, 0x40, 0x06, 0, 0, 0, 0, '{', '}'}),
                     {"header length 104857601", "limit"});
  expect_parse_error(bytes_of({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}),
                     {"header length 18446744073709551615"});
}

TEST_F(Safetensors, RejectsHeaderLengthBeyondFile) {
  Bytes file = make_file("{}");
  file[0] = std::byte{100};
  expect_parse_error(file, {"header length 100", "beyond the file of 10 bytes"});
}

// ---- validation: JSON ----

TEST_F(Safetensors, RejectsInvalidJson) {
  expect_parse_error(make_file(R"({"w":)"), {"not valid JSON"});
  expect_parse_error(make_file(R"({"w":1,})"), {"not valid JSON"});
}

TEST_F(Safetensors, RejectsInvalidUtf8InHeader) {
  expect_parse_error(make_file("{\"w\xff\":1}"), {"not valid JSON"});
}

TEST_F(Safetensors, RejectsNestingDeeperThan16) {
  expect_parse_error(make_file(std::string(17, '[') + std::string(17, ']')),
                     {"nests deeper than 16"});
  // Deep enough to overflow a recursive parser's stack: must fail cleanly, not crash.
  expect_parse_error(make_file(std::string(1000000, '{')), {"nests deeper than 16"});
}

TEST_F(Safetensors, NestingOf16AndBracketsInStringsAreNotRejectedForDepth) {
  // 16 levels pass the depth scan (and fail later for not being an object).
  const std::string message = parse_error(make_file(std::string(16, '[') + std::string(16, ']')));
  expect_contains(message, "must be a JSON object");
  // Brackets inside strings (with escaped quotes) do not count as nesting.
  const auto file = parse_safetensors(
      make_file(R"({"__metadata__":{"k":"\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{"}})"), kSource);
  EXPECT_EQ(file.metadata.at("k"), "\"[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{{{{{");
}

TEST_F(Safetensors, RejectsDuplicateKeys) {
  expect_parse_error(make_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                               raw_bytes<float>({1, 2})),
                     {"\"w\" twice"});
}

TEST_F(Safetensors, RejectsHeaderNotObject) {
  expect_parse_error(make_file("[1,2]"), {"header must be a JSON object", "[1,2]"});
}

// ---- validation: entries ----

TEST_F(Safetensors, RejectsEntryNotObject) {
  expect_parse_error(make_file(R"({"w":[0,4]})"), {"tensor \"w\"", "must be an object", "[0,4]"});
}

TEST_F(Safetensors, RejectsEmptyTensorName) {
  expect_parse_error(
      make_file(R"({"":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})", raw_bytes<float>({1})),
      {"empty name"});
}

TEST_F(Safetensors, RejectsMissingField) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[1])"), raw_bytes<float>({1})),
                     {"tensor \"w\"", "missing field \"data_offsets\""});
  expect_parse_error(make_file(entry(R"("shape":[1],"data_offsets":[0,4])"), raw_bytes<float>({1})),
                     {"missing field \"dtype\""});
  expect_parse_error(
      make_file(entry(R"("dtype":"F32","data_offsets":[0,4])"), raw_bytes<float>({1})),
      {"missing field \"shape\""});
}

TEST_F(Safetensors, RejectsExtraField) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1)"),
                               raw_bytes<float>({1})),
                     {"tensor \"w\"", "unexpected field \"extra\""});
}

TEST_F(Safetensors, RejectsDtypeNotString) {
  expect_parse_error(
      make_file(entry(R"("dtype":4,"shape":[1],"data_offsets":[0,4])"), raw_bytes<float>({1})),
      {"\"dtype\" must be a string", "4"});
}

TEST_F(Safetensors, RejectsUnknownDtype) {
  expect_parse_error(
      make_file(entry(R"("dtype":"U16","shape":[1],"data_offsets":[0,2])"), bytes_of({1, 0})),
      {"tensor \"w\"", "unsupported dtype \"U16\"", "F32"});
  expect_parse_error(
      make_file(entry(R"("dtype":"f32","shape":[1],"data_offsets":[0,4])"), raw_bytes<float>({1})),
      {"unsupported dtype \"f32\""});
}

TEST_F(Safetensors, RejectsShapeNotArray) {
  expect_parse_error(
      make_file(entry(R"("dtype":"F32","shape":1,"data_offsets":[0,4])"), raw_bytes<float>({1})),
      {"\"shape\" must be an array", "got 1"});
}

TEST_F(Safetensors, RejectsNegativeShapeEntry) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[2,-3],"data_offsets":[0,0])")),
                     {"tensor \"w\"", "shape entry -3"});
}

TEST_F(Safetensors, RejectsNonIntegerShapeEntry) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[1.5],"data_offsets":[0,4])"),
                               raw_bytes<float>({1})),
                     {"shape entry 1.5"});
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":["1"],"data_offsets":[0,4])"),
                               raw_bytes<float>({1})),
                     {"shape entry \"1\""});
  expect_parse_error(
      make_file(entry(R"("dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4])"),
                raw_bytes<float>({1})),
      {"shape entry 9223372036854775808"});
}

TEST_F(Safetensors, RejectsShapeProductOverflowingInt64) {
  expect_parse_error(
      make_file(entry(R"("dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4])"),
                raw_bytes<float>({1})),
      {"shape [4294967296, 4294967296]", "more elements than int64"});
}

TEST_F(Safetensors, RejectsShapeLargerThanFile) {
  // Rejected before any allocation of the 4 TB tensor.
  expect_parse_error(
      make_file(entry(R"("dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8])"),
                raw_bytes<float>({1, 2})),
      {"shape [1000000, 1000000]", "8-byte data section"});
  // numel fits int64 but numel * 8 bytes does not fit 64 bits.
  expect_parse_error(
      make_file(entry(R"("dtype":"I64","shape":[4611686018427387904],"data_offsets":[0,8])"),
                raw_bytes<int64_t>({1})),
      {"shape [4611686018427387904]"});
}

TEST_F(Safetensors, RejectsDataOffsetsNotTwoNonNegativeIntegers) {
  for (const std::string offsets : {"4", "[4]", "[0,4,8]", "[-1,3]", "[0,4.0]", "[\"0\",4]"}) {
    expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[1],"data_offsets":)" + offsets),
                                 raw_bytes<float>({1, 2})),
                       {"tensor \"w\"", "\"data_offsets\" must be two non-negative integers"});
  }
}

TEST_F(Safetensors, RejectsDataOffsetsBeginAfterEnd) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[1],"data_offsets":[8,4])"),
                               raw_bytes<float>({1, 2, 3})),
                     {"data_offsets [8, 4] begin after end"});
}

TEST_F(Safetensors, RejectsDataOffsetsEndBeyondDataSection) {
  const std::string message = parse_error(
      make_file(entry(R"("dtype":"F32","shape":[1],"data_offsets":[0,400])"), Bytes(100)));
  EXPECT_EQ(message,
            "t.safetensors: tensor \"w\": data_offsets [0, 400] end beyond the data section of "
            "100 bytes");
}

TEST_F(Safetensors, RejectsByteLengthNotMatchingShape) {
  expect_parse_error(make_file(entry(R"("dtype":"F32","shape":[2],"data_offsets":[0,4])"),
                               raw_bytes<float>({1, 2})),
                     {"data_offsets [0, 4]", "span 4 bytes", "needs 8"});
  expect_parse_error(make_file(entry(R"("dtype":"F16","shape":[3],"data_offsets":[0,8])"),
                               raw_bytes<float>({1, 2})),
                     {"span 8 bytes", "F16[3] needs 6"});
}

TEST_F(Safetensors, RejectsOverlappingRanges) {
  expect_parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               raw_bytes<float>({1, 2, 3})),
                     {"tensor \"b\"", "[4, 12] overlap tensor \"a\" at [0, 8]"});
  // Identical ranges overlap too.
  expect_parse_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}})",
                               raw_bytes<float>({1})),
                     {"overlap"});
}

TEST_F(Safetensors, AcceptsEmptyRangeInsideAnotherAndGaps) {
  const auto file =
      parse_safetensors(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                  R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                  R"("c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})",
                                  raw_bytes<float>({1, 2, 99, 3})),
                        kSource);
  EXPECT_EQ(file.get("a").to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(file.get("e").numel(), 0);
  EXPECT_EQ(file.get("c").item(), 3.0f);
}

TEST_F(Safetensors, RejectsMetadataNotObject) {
  expect_parse_error(make_file(R"({"__metadata__":"pt"})"),
                     {"\"__metadata__\" must be an object of strings", "\"pt\""});
}

TEST_F(Safetensors, RejectsNonStringMetadataValue) {
  expect_parse_error(make_file(R"({"__metadata__":{"format":"pt","n":1}})"),
                     {"\"__metadata__\" value for \"n\" must be a string", "got 1"});
  expect_parse_error(make_file(R"({"__metadata__":{"nested":{"a":"b"}}})"),
                     {"value for \"nested\""});
}

// Every truncation and many random corruptions of a valid file either parse or throw
// heed::Error; under the sanitizers this also checks that nothing is read out of bounds.
TEST_F(Safetensors, CorruptedFilesNeverCrash) {
  const Bytes valid = serialize_safetensors({{"a", Tensor::from_vector({2, 2}, {1, 2, 3, 4})},
                                             {"b", Tensor::from_indices({3}, {1, 2, 3})}},
                                            {{"k", "v"}});
  for (size_t n = 0; n < valid.size(); ++n) {
    const Bytes prefix(valid.begin(), valid.begin() + static_cast<ptrdiff_t>(n));
    try {
      parse_safetensors(prefix, kSource);
    } catch (const Error&) {
    }
  }
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull; };
  for (int trial = 0; trial < 2000; ++trial) {
    Bytes corrupt = valid;
    for (int flips = 1 + static_cast<int>(next() >> 62); flips > 0; --flips)
      corrupt[(next() >> 33) % corrupt.size()] = static_cast<std::byte>(next() >> 56);
    try {
      parse_safetensors(corrupt, kSource);
    } catch (const Error&) {
    }
  }
}

// ---- writer errors ----

TEST_F(Safetensors, WriterRejectsBadNames) {
  const Tensor t = Tensor::zeros({1});
  expect_contains(error_of([&] { serialize_safetensors({{"", t}}, {}); }), "empty name");
  expect_contains(error_of([&] {
                    serialize_safetensors({{"w", t}, {"w", t}}, {});
                  }),
                  "duplicate tensor name \"w\"");
  expect_contains(error_of([&] {
                    serialize_safetensors({{"__metadata__", t}}, {});
                  }),
                  "\"__metadata__\" is reserved");
  expect_contains(error_of([&] {
                    serialize_safetensors({{"w\xff", t}}, {});
                  }),
                  "cannot encode the header");
}

TEST_F(Safetensors, WriterRejectsUndefinedTensor) {
  expect_contains(error_of([&] {
                    serialize_safetensors({{"w", Tensor()}}, {});
                  }),
                  "tensor \"w\" is undefined");
}

// ---- files ----

TEST_F(Safetensors, WriteAndReadFile) {
  const std::string p = path("model.safetensors");
  write_safetensors(p, {{"w", Tensor::from_vector({2}, {1, 2})}}, {{"format", "pt"}});
  const auto file = read_safetensors(p);
  EXPECT_EQ(file.source, p);
  EXPECT_EQ(file.get("w").to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(listing(), std::vector<std::string>{"model.safetensors"});
}

TEST_F(Safetensors, ReadErrorsStartWithThePath) {
  const std::string p = path("bad.safetensors");
  std::ofstream(p, std::ios::binary) << "abc";
  const std::string message = error_of([&] { read_safetensors(p); });
  EXPECT_EQ(message.rfind(p + ": ", 0), 0u) << message;
  expect_contains(error_of([&] { read_safetensors(path("missing.safetensors")); }),
                  path("missing.safetensors"));
}

TEST_F(AtomicFile, WritesNewFile) {
  const std::string p = path("out.bin");
  write_file_atomic(p, text_bytes("hello"));
  EXPECT_EQ(read_text(p), "hello");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.bin"});
}

TEST_F(AtomicFile, ReplacesExistingFileWithoutLeftovers) {
  const std::string p = path("out.bin");
  std::ofstream(p, std::ios::binary) << "old contents that are longer";
  write_file_atomic(p, text_bytes("new"));
  EXPECT_EQ(read_text(p), "new");
  write_file_atomic(p, {});
  EXPECT_EQ(read_text(p), "");
  EXPECT_EQ(listing(), std::vector<std::string>{"out.bin"});
}

TEST_F(AtomicFile, MissingDirectoryThrowsNamingPathAndLeavesNothing) {
  const std::string p = path("no/such/dir/out.bin");
  const std::string message = error_of([&] { write_file_atomic(p, text_bytes("x")); });
  expect_contains(message, p);
  expect_contains(message, std::strerror(ENOENT));
  EXPECT_TRUE(listing().empty());
}

// A rename onto a non-empty directory fails after the temporary file was written: the
// temporary file must be removed and the target left alone.
TEST_F(AtomicFile, FailedRenameRemovesTempFileAndKeepsTarget) {
  const std::string p = path("target");
  fs::create_directory(p);
  std::ofstream(p + "/keep", std::ios::binary) << "k";
  const std::string message = error_of([&] { write_file_atomic(p, text_bytes("x")); });
  expect_contains(message, p);
  expect_contains(message, "rename");
  EXPECT_EQ(listing(), std::vector<std::string>{"target"});
  EXPECT_EQ(read_text(p + "/keep"), "k");
}

TEST_F(AtomicFile, ReadFileReturnsContents) {
  const std::string p = path("in.bin");
  write_file_atomic(p, text_bytes("some bytes"));
  EXPECT_EQ(read_file(p, 100), text_bytes("some bytes"));
  EXPECT_EQ(read_file(p, 10), text_bytes("some bytes"));  // exactly at the limit
  write_file_atomic(p, {});
  EXPECT_TRUE(read_file(p, 0).empty());
}

TEST_F(AtomicFile, ReadFileMissingNamesIt) {
  const std::string p = path("missing.bin");
  const std::string message = error_of([&] { read_file(p, 100); });
  expect_contains(message, p);
  expect_contains(message, std::strerror(ENOENT));
}

TEST_F(AtomicFile, ReadFileOverLimitNamesIt) {
  const std::string p = path("big.bin");
  write_file_atomic(p, text_bytes("0123456789"));
  const std::string message = error_of([&] { read_file(p, 9); });
  expect_contains(message, p);
  expect_contains(message, "limit of 9");
}

TEST_F(AtomicFile, ReadFileOnDirectoryNamesIt) {
  expect_contains(error_of([&] { read_file(dir_.string(), 100); }), dir_.string());
}


// ---- checksums (heed.checksums) ----
// The expected digests are computed here from the definition (xxHash64, seed 0, over the data
// bytes; over "key\0value\0" of the other metadata entries in byte order), not by the writer.
namespace checksums {

std::string xxh64_hex(const void* data, size_t size) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(XXH64(data, size, 0)));
  return text;
}

// The header JSON of a serialized file.
nlohmann::json header_of(const Bytes& file) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return nlohmann::json::parse(std::string(reinterpret_cast<const char*>(file.data() + 8), n));
}

TEST_F(Safetensors, WriterStoresTheDefinedChecksums) {
  const std::vector<float> w = {1.5f, -2.f, 3.25f};
  Tensor t = Tensor::empty({3});
  std::memcpy(t.f32(), w.data(), sizeof(float) * 3);
  const Bytes file = serialize_safetensors({{"w", t}}, {{"b", "2"}, {"a", "1"}});
  const nlohmann::json sums = nlohmann::json::parse(header_of(file)["__metadata__"][kChecksumsKey].get<std::string>());
  EXPECT_EQ(sums.at("w"), xxh64_hex(w.data(), sizeof(float) * 3));
  const std::string meta = std::string("a\0" "1\0" "b\0" "2\0", 8);
  EXPECT_EQ(sums.at("__metadata__"), xxh64_hex(meta.data(), meta.size()));
  const SafetensorsFile back = parse_safetensors(file, kSource);
  EXPECT_TRUE(back.checksummed);
  EXPECT_EQ(back.metadata.count(kChecksumsKey), 0u) << "the verified checksums are not handed on";
  EXPECT_EQ(back.metadata.size(), 2u);
}

TEST_F(Safetensors, FlippedBitInTensorDataIsNamed) {
  Tensor t = Tensor::zeros({4});
  Bytes file = serialize_safetensors({{"first", Tensor::zeros({2})}, {"second", t}}, {});
  file[file.size() - 5] ^= std::byte{0x10};  // inside "second" (the last 16 bytes)
  expect_parse_error(file, {"tensor \"second\"", "checksum", "damaged"});
}

TEST_F(Safetensors, ChangedMetadataIsNamed) {
  Bytes file = serialize_safetensors({{"w", Tensor::zeros({2})}}, {{"mean", "0.2860"}});
  const std::string marker = "0.2860";
  auto at = std::search(file.begin(), file.end(), reinterpret_cast<const std::byte*>(marker.data()),
                        reinterpret_cast<const std::byte*>(marker.data()) + marker.size());
  ASSERT_NE(at, file.end());
  at[3] = std::byte{'9'};  // 0.2960: same length, still valid JSON
  expect_parse_error(file, {"metadata", "checksum"});
}

TEST_F(Safetensors, FileWithoutChecksumsLoadsUnverified) {
  const auto file = parse_safetensors(make_file(entry(R"("dtype":"F32","shape":[1],"data_offsets":[0,4])"),
                                                raw_bytes(std::vector<float>{1.f})),
                                      kSource);
  EXPECT_FALSE(file.checksummed);
}

TEST_F(Safetensors, ChecksumKeyIsReservedForTheWriter) {
  EXPECT_NE(error_of([] { serialize_safetensors({{"w", Tensor::zeros({1})}}, {{kChecksumsKey, "{}"}}); })
                .find("reserved"),
            std::string::npos);
}

}  // namespace checksums

// ---- reading only regular files, headers first ----

TEST_F(Safetensors, RefusesCharacterDevicesAndFifosAtOnce) {
  expect_contains(error_of([] { read_safetensors("/dev/zero"); }), "not a regular file (a character device)");
  const std::string fifo = path("pipe");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // No writer: opening must not block.
  expect_contains(error_of([&] { read_safetensors(fifo); }), "not a regular file (a FIFO");
  expect_contains(error_of([&] { read_file(fifo, 1 << 20); }), fifo + ": not a regular file");
}

TEST_F(Safetensors, ImplausibleHeaderLengthFailsWithoutReadingTheRest) {
  // 8 bytes claiming a 1 TiB header, then 1 MiB: refused from the length alone.
  Bytes file(8 + (1 << 20));
  const uint64_t n = uint64_t{1} << 40;
  std::memcpy(file.data(), &n, 8);
  const std::string p = path("big.safetensors");
  write_file_atomic(p, file);
  expect_contains(error_of([&] { read_safetensors(p); }), "header length");
}

}  // namespace
}  // namespace heed::io
