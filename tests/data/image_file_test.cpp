#include "heed/data/image_file.h"

#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>

#include <csetjmp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/tensor.h"
#include "test_files.h"

namespace heed::data {
namespace {

namespace fs = std::filesystem;
using test::Bytes;
using test::concat;
using test::PngSpec;
using test::text_bytes;
using test::write_png;

// ---- helpers ----

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

// Expects `image` to be [C, H, W] with exactly `values` (in C, H, W order).
void expect_image(const Tensor& image, const Shape& shape, const std::vector<float>& values) {
  ASSERT_EQ(image.dtype(), DType::F32);
  ASSERT_EQ(image.shape(), shape);
  const std::vector<float> got = image.to_vector();
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(got[i], values[i]) << "element " << i;
}

float u8(int v) { return static_cast<float>(v) / 255.0f; }

class ImageFileTest : public ::testing::Test {
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

  Bytes read(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  // The error read_image throws for a file holding `bytes`; it must start with the path.
  std::string read_error(const Bytes& bytes, const std::string& name = "img") const {
    const std::string p = write(name, bytes);
    const std::string message = error_of([&] { read_image(p); });
    EXPECT_EQ(message.rfind(p + ": ", 0), 0u) << message;
    return message;
  }

  fs::path dir_;
};

class Netpbm : public ImageFileTest {};
class Png : public ImageFileTest {};

// ---- PGM / PPM ----

TEST_F(Netpbm, BinaryPgm8Bit) {
  const Bytes file =
      concat(text_bytes("P5\n# a comment\n3 # width\n2\n255\n"), {0, 128, 255, 1, 2, 254});
  expect_image(read_image(write("a.pgm", file)), {1, 2, 3}, {0, u8(128), 1, u8(1), u8(2), u8(254)});
}

TEST_F(Netpbm, BinaryPgmSmallMaxval) {
  const Bytes file = concat(text_bytes("P5 2 1 15 "), {0, 15});  // single spaces are enough
  expect_image(read_image(write("a.pgm", file)), {1, 1, 2}, {0, 1});
  const Bytes seven = concat(text_bytes("P5 1 1 15\n"), {7});
  expect_image(read_image(write("b.pgm", seven)), {1, 1, 1}, {7.0f / 15.0f});
}

TEST_F(Netpbm, BinaryPgm16BitIsBigEndian) {
  const Bytes file =
      concat(text_bytes("P5\n2 2\n65535\n"), {0x00, 0x00, 0xff, 0xff, 0x12, 0x34, 0x80, 0x00});
  expect_image(read_image(write("a.pgm", file)), {1, 2, 2},
               {0, 1, 0x1234 / 65535.0f, 0x8000 / 65535.0f});
  const Bytes small = concat(text_bytes("P5 1 1 300\n"), {0x01, 0x2c});  // 300 of 300
  expect_image(read_image(write("b.pgm", small)), {1, 1, 1}, {1});
}

TEST_F(Netpbm, AsciiPgmWithCommentsEverywhere) {
  const Bytes file = text_bytes("P2\n#c1\n 3 2 #c2\n1000\n0 500 1000 # row one\n\n1   2\t999\n");
  expect_image(read_image(write("a.pgm", file)), {1, 2, 3},
               {0, 0.5f, 1, 1 / 1000.0f, 2 / 1000.0f, 999 / 1000.0f});
}

TEST_F(Netpbm, PpmIsPlanarRgb) {
  const Bytes binary = concat(text_bytes("P6 2 1 255\n"), {10, 20, 30, 40, 50, 60});
  expect_image(read_image(write("a.ppm", binary)), {3, 1, 2},
               {u8(10), u8(40), u8(20), u8(50), u8(30), u8(60)});
  const Bytes ascii = text_bytes("P3 2 1 255\n10 20 30  40 50 60\n");
  expect_image(read_image(write("b.ppm", ascii)), {3, 1, 2},
               {u8(10), u8(40), u8(20), u8(50), u8(30), u8(60)});
}

TEST_F(Netpbm, TruncatedAndTrailingData) {
  expect_contains(read_error(concat(text_bytes("P5 3 2 255\n"), {1, 2, 3, 4, 5})),
                  "pixel data is truncated: 3x2 needs 6 bytes, the file has 5");
  expect_contains(read_error(concat(text_bytes("P5 2 1 65535\n"), {1, 2, 3})),
                  "needs 4 bytes, the file has 3");
  expect_contains(read_error(concat(text_bytes("P5 1 1 255\n"), {1, 2, 3})),
                  "2 trailing bytes after the pixel data");
  expect_contains(read_error(text_bytes("P2 2 2 255\n1 2 3")),
                  "pixel data is truncated: 2x2 needs 4 samples, the file has 3");
  expect_contains(read_error(text_bytes("P2 1 1 255\n1 2\n")),
                  "unexpected data after the 1 samples");
  expect_contains(read_error(text_bytes("P5 3 2")), "file ends before the maxval");
  expect_contains(read_error(text_bytes("P5 3 2 255")),
                  "expected one whitespace byte between the header and the pixel data");
}

TEST_F(Netpbm, ValuesAboveMaxval) {
  expect_contains(read_error(concat(text_bytes("P5 2 1 100\n"), {100, 101})),
                  "pixel value 101 exceeds maxval 100");
  expect_contains(read_error(text_bytes("P2 1 1 1000\n1001\n")),
                  "pixel value 1001 exceeds maxval 1000");
  expect_contains(read_error(concat(text_bytes("P5 1 1 1000\n"), {0x03, 0xe9})),
                  "pixel value 1001 exceeds maxval 1000");
}

TEST_F(Netpbm, BadHeaders) {
  expect_contains(read_error(text_bytes("P5 0 2 255\n")), "image is 0x2 pixels");
  expect_contains(read_error(text_bytes("P5 2 2 0\n")), "maxval is 0; it must be 1 to 65535");
  expect_contains(read_error(text_bytes("P5 2 2 65536\n")), "maxval is 65536");
  expect_contains(read_error(text_bytes("P5 x 2 255\n")), "expected the width, found 'x'");
  expect_contains(read_error(text_bytes("P5 2a 2 255\n")), "unexpected 'a' after the width");
  expect_contains(read_error(text_bytes("P5 99999999999 2 255\n")), "the width is too large");
}

TEST_F(Netpbm, OversizeIsRejectedFromTheHeader) {
  // A few bytes claiming 16385 x 1 (or 16384 x 16385): rejected before allocating the pixels.
  expect_contains(read_error(text_bytes("P5 16385 1 255\n")),
                  "image is 16385x1 pixels, more than the limit of 16384x16384");
  expect_contains(read_error(text_bytes("P5 16384 16385 255\n")), "16384x16385 pixels");
}

TEST_F(Netpbm, UnknownFormatsAndMissingFile) {
  expect_contains(read_error(text_bytes("GIF89a")),
                  "unknown image format (first bytes: 'G' 'I' 'F' '8')");
  expect_contains(read_error(text_bytes("P4 1 1\n")), "unknown image format");
  expect_contains(read_error({}), "unknown image format (first bytes: none)");
  const std::string missing = path("absent.png");
  expect_contains(error_of([&] { read_image(missing); }), missing);
}

// ---- PNG ----

TEST_F(Png, Gray8) {
  write_png(path("g.png"), {.width = 3, .height = 2, .rows = {{0, 100, 255}, {1, 2, 3}}});
  expect_image(read_image(path("g.png")), {1, 2, 3}, {0, u8(100), 1, u8(1), u8(2), u8(3)});
}

TEST_F(Png, Rgb8IsPlanar) {
  write_png(path("c.png"), {.width = 2,
                            .height = 1,
                            .color_type = PNG_COLOR_TYPE_RGB,
                            .rows = {{10, 20, 30, 40, 50, 60}}});
  expect_image(read_image(path("c.png")), {3, 1, 2},
               {u8(10), u8(40), u8(20), u8(50), u8(30), u8(60)});
}

TEST_F(Png, AlphaIsDroppedNotComposited) {
  write_png(path("rgba.png"), {.width = 2,
                               .height = 1,
                               .color_type = PNG_COLOR_TYPE_RGBA,
                               .rows = {{10, 20, 30, 0, 40, 50, 60, 128}}});
  expect_image(read_image(path("rgba.png")), {3, 1, 2},
               {u8(10), u8(40), u8(20), u8(50), u8(30), u8(60)});
  write_png(path("ga.png"), {.width = 2,
                             .height = 1,
                             .color_type = PNG_COLOR_TYPE_GRAY_ALPHA,
                             .rows = {{77, 0, 200, 255}}});
  expect_image(read_image(path("ga.png")), {1, 1, 2}, {u8(77), u8(200)});
}

TEST_F(Png, PaletteWithTransparencyBecomesRgb) {
  write_png(path("p.png"), {.width = 3,
                            .height = 1,
                            .color_type = PNG_COLOR_TYPE_PALETTE,
                            .palette = {{255, 0, 0}, {0, 128, 0}, {1, 2, 3}},
                            .transparency = {0, 255},
                            .rows = {{2, 0, 1}}});
  expect_image(read_image(path("p.png")), {3, 1, 3}, {u8(1), 1, 0, u8(2), 0, u8(128), u8(3), 0, 0});
}

TEST_F(Png, LowBitDepthGrayIsScaledTo8Bits) {
  // 1-bit: 0b10110000 -> 1 0 1 1 0; 4-bit: 0x0f 0x50 -> 0 15 5.
  write_png(path("b1.png"), {.width = 5, .height = 1, .bit_depth = 1, .rows = {{0xb0}}});
  expect_image(read_image(path("b1.png")), {1, 1, 5}, {1, 0, 1, 1, 0});
  write_png(path("b4.png"), {.width = 3, .height = 1, .bit_depth = 4, .rows = {{0x0f, 0x50}}});
  expect_image(read_image(path("b4.png")), {1, 1, 3}, {0, 1, u8(5 * 17)});
}

TEST_F(Png, HighlyCompressedPaletteImageIsAccepted) {
  // An 8192 x 2048 palette image with 1-bit indices, all 0 (RGB white): 2 MiB of stored rows
  // deflate to a few KiB, near zlib's ~1032:1 limit, and convert to 48 MiB of RGB. The size
  // plausibility check must count the stored rows, not the converted ones.
  PngSpec spec{.width = 8192, .height = 2048, .color_type = PNG_COLOR_TYPE_PALETTE, .bit_depth = 1,
               .palette = {{255, 255, 255}, {0, 0, 0}}};
  spec.rows.assign(spec.height, Bytes(spec.width / 8, 0));
  write_png(path("big.png"), spec);
  ASSERT_GT(uint64_t{8192} * 3 * 2048, fs::file_size(path("big.png")) * 1032 + 4096)
      << "the converted rows must exceed what the file could hold, for this test to mean anything";
  const Tensor image = read_image(path("big.png"));
  ASSERT_EQ(image.shape(), (Shape{3, 2048, 8192}));
  const float* p = image.f32();
  EXPECT_EQ(p[0], 1.0f);
  EXPECT_EQ(p[image.numel() - 1], 1.0f);
}

TEST_F(Png, SixteenBitIsRoundedTo8Bits) {
  // Multiples of 257 map exactly onto 8-bit values; 0x01ff (1.99 * 257) rounds to 2 where
  // dropping the low byte would give 1.
  write_png(path("g16.png"), {.width = 4,
                              .height = 1,
                              .bit_depth = 16,
                              .rows = {{0, 0, 0xff, 0xff, 0x64, 0x64, 0x01, 0xff}}});
  expect_image(read_image(path("g16.png")), {1, 1, 4}, {0, 1, u8(100), u8(2)});
  write_png(path("c16.png"), {.width = 1,
                              .height = 1,
                              .color_type = PNG_COLOR_TYPE_RGB,
                              .bit_depth = 16,
                              .rows = {{0x0a, 0x0a, 0x14, 0x14, 0x1e, 0x1e}}});
  expect_image(read_image(path("c16.png")), {3, 1, 1}, {u8(10), u8(20), u8(30)});
}

TEST_F(Png, Interlaced) {
  PngSpec spec{.width = 9, .height = 9, .interlaced = true};
  std::vector<float> expected;
  for (int y = 0; y < 9; ++y) {
    Bytes row;
    for (int x = 0; x < 9; ++x) {
      row.push_back(static_cast<uint8_t>(10 * y + x));
      expected.push_back(u8(10 * y + x));
    }
    spec.rows.push_back(row);
  }
  write_png(path("i.png"), spec);
  expect_image(read_image(path("i.png")), {1, 9, 9}, expected);
}

TEST_F(Png, CorruptAndTruncatedFiles) {
  PngSpec spec{.width = 16, .height = 16};
  for (int y = 0; y < 16; ++y) spec.rows.push_back(Bytes(16, static_cast<uint8_t>(y * 13)));
  write_png(path("good.png"), spec);
  const Bytes good = read(path("good.png"));

  const Bytes half(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  expect_contains(read_error(half, "half.png"), "invalid PNG: file is truncated");
  const Bytes no_iend(good.begin(), good.end() - 12);
  expect_contains(read_error(no_iend, "no_iend.png"), "invalid PNG");
  const Bytes signature_only(good.begin(), good.begin() + 8);
  expect_contains(read_error(signature_only, "sig.png"), "invalid PNG");

  const std::string text(good.begin(), good.end());
  const size_t idat = text.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  const size_t length = (size_t{good[idat - 4]} << 24) | (size_t{good[idat - 3]} << 16) |
                        (size_t{good[idat - 2]} << 8) | good[idat - 1];
  Bytes bad_data = good;
  bad_data[idat + 6] ^= 0x40;  // inside the compressed data
  expect_contains(read_error(bad_data, "data.png"), "invalid PNG: IDAT");
  Bytes bad_crc = good;
  bad_crc[idat + 4 + length] ^= 0x01;  // the chunk's CRC itself
  expect_contains(read_error(bad_crc, "crc.png"), "invalid PNG: IDAT: CRC error");
}

TEST_F(Png, OversizeIsRejectedBeforeDecoding) {
  write_png(path("wide.png"), {.width = 16385, .height = 1, .rows = {Bytes(16385, 7)}});
  const std::string message = error_of([&] { read_image(path("wide.png")); });
  EXPECT_EQ(message,
            path("wide.png") + ": image is 16385x1 pixels, more than the limit of 16384x16384");
}

// ---- image operations ----

TEST(ImageOps, GrayscaleUsesBt601Luma) {
  const Tensor rgb = Tensor::from_vector({3, 1, 2}, {1, 0.2f, 0, 0.4f, 0, 0.6f});
  const Tensor gray = to_grayscale(rgb);
  ASSERT_EQ(gray.shape(), (Shape{1, 1, 2}));
  EXPECT_FLOAT_EQ(gray.at({0, 0, 0}), 0.299f);
  EXPECT_FLOAT_EQ(gray.at({0, 0, 1}), 0.299f * 0.2f + 0.587f * 0.4f + 0.114f * 0.6f);
  const Tensor white = to_grayscale(Tensor::full({3, 2, 2}, 1.0f));
  for (float v : white.to_vector()) EXPECT_NEAR(v, 1.0f, 1e-6f);
}

TEST(ImageOps, GrayscaleOfGrayIsACopy) {
  const Tensor one = Tensor::from_vector({1, 1, 2}, {0.25f, 0.5f});
  const Tensor gray = to_grayscale(one);
  EXPECT_EQ(gray.to_vector(), one.to_vector());
  EXPECT_FALSE(gray.shares_storage_with(one));
}

TEST(ImageOps, GrayscaleRejectsOtherShapes) {
  expect_contains(error_of([] {
                    to_grayscale(Tensor::zeros({2, 1, 1}));
                  }),
                  "to_grayscale: expected 1 or 3 channels");
  expect_contains(error_of([] {
                    to_grayscale(Tensor::zeros({3, 4}));
                  }),
                  "to_grayscale: expected an f32 [C, H, W] image");
}

TEST(ImageOps, ResizeToSameSizeIsIdentity) {
  const Tensor x = Tensor::from_vector({2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  EXPECT_EQ(resize_bilinear(x, 2, 3).to_vector(), x.to_vector());
}

TEST(ImageOps, ResizeUsesHalfPixelCentres) {
  // PyTorch: interpolate([[0, 1]], size=4, mode="bilinear", align_corners=False) along width.
  const Tensor row = Tensor::from_vector({1, 1, 2}, {0, 1});
  expect_image(resize_bilinear(row, 1, 4), {1, 1, 4}, {0, 0.25f, 0.75f, 1});
  // Halving averages pairs: source coordinates 0.5 and 2.5.
  const Tensor four = Tensor::from_vector({1, 1, 4}, {0, 2, 4, 8});
  expect_image(resize_bilinear(four, 1, 2), {1, 1, 2}, {1, 6});
  // Two dimensions and channels at once: 2x2 -> 4x4 is separable.
  const Tensor square = Tensor::from_vector({2, 2, 2}, {0, 4, 8, 12, 1, 1, 1, 1});
  const Tensor big = resize_bilinear(square, 4, 4);
  ASSERT_EQ(big.shape(), (Shape{2, 4, 4}));
  const float w[4][2] = {{1, 0}, {0.75f, 0.25f}, {0.25f, 0.75f}, {0, 1}};
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 4; ++x) {
      const float expected =
          w[y][0] * (w[x][0] * 0 + w[x][1] * 4) + w[y][1] * (w[x][0] * 8 + w[x][1] * 12);
      EXPECT_FLOAT_EQ(big.at({0, y, x}), expected) << y << "," << x;
      EXPECT_FLOAT_EQ(big.at({1, y, x}), 1.0f);
    }
}

TEST(ImageOps, ResizeAcceptsViewsAndRejectsBadSizes) {
  const Tensor x = Tensor::from_vector({1, 2, 2}, {1, 2, 3, 4}).transpose(1, 2);
  expect_image(resize_bilinear(x, 2, 2), {1, 2, 2}, {1, 3, 2, 4});
  expect_contains(error_of([&] { resize_bilinear(x, 0, 3); }), "resize_bilinear: cannot resize");
  expect_contains(error_of([] { resize_bilinear(Tensor::zeros({4}), 1, 1); }),
                  "resize_bilinear: expected an f32 [C, H, W] image");
}

}  // namespace
}  // namespace heed::data
