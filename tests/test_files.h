// Files the tests make: bytes, gzip, IDX, PNG, and a tiny synthetic image-classification set.
#pragma once

#include <gtest/gtest.h>
#include <png.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "heed/core/rng.h"

#ifndef HEED_GOLDEN_DIR
#define HEED_GOLDEN_DIR "tests/golden"
#endif

namespace heed::test {

using Bytes = std::vector<uint8_t>;

// A fresh directory under the test temp dir, removed with the object: `prefix` + the running
// test's name (or "suite" outside a test) + the pid, so parallel ctest processes never share one.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix) {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(::testing::TempDir()) /
            (prefix + (info ? info->name() : "suite") + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A committed JSON golden file, by its path under tests/golden ("metrics/fashion_mnist.json").
inline nlohmann::json read_golden_json(const std::string& relative) {
  const std::string path = std::string(HEED_GOLDEN_DIR) + "/" + relative;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return nlohmann::json::object();
  }
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

inline Bytes text_bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

inline Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline Bytes gzip(const Bytes& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  Bytes out(deflateBound(&stream, static_cast<uLong>(data.size())) + 64);
  stream.next_in = const_cast<Bytef*>(data.data());
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// An IDX file of unsigned bytes (type 0x08) with the given dimensions.
inline Bytes idx_file(const std::vector<uint32_t>& dims, const Bytes& payload) {
  Bytes file = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) file.push_back(static_cast<uint8_t>((d >> shift) & 0xff));
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

// What libpng needs to write one PNG; rows are in the file's packed sample layout.
struct PngSpec {
  uint32_t width = 0, height = 0;
  int color_type = PNG_COLOR_TYPE_GRAY;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<png_color> palette = {};
  Bytes transparency = {};  // tRNS entries for a palette
  std::vector<Bytes> rows = {};
};

// Writes with libpng's classic API. The setjmp landing point is in this frame, which holds only
// trivially destructible locals that are not modified after setjmp.
inline bool write_png_with_libpng(const char* path, const PngSpec& spec, png_bytep* rows) {
  std::FILE* file = std::fopen(path, "wb");
  if (file == nullptr) return false;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty())
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  if (!spec.transparency.empty())
    png_set_tRNS(png, info, spec.transparency.data(), static_cast<int>(spec.transparency.size()),
                 nullptr);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::fclose(file) == 0;
}

inline void write_png(const std::string& path, PngSpec spec) {
  std::vector<png_bytep> rows;
  for (Bytes& row : spec.rows) rows.push_back(row.data());
  ASSERT_TRUE(write_png_with_libpng(path.c_str(), spec, rows.data())) << path;
}

// A tiny image-classification set in Fashion-MNIST's file layout: `side` x `side` grey images of
// 3 classes, class k drawn as a bright 3x3 square at a class-specific place (top left, centre,
// bottom right) on a noisy dark background; labels cycle 0, 1, 2 so every class is present.
// Writes <dir>/<prefix>-images-idx3-ubyte.gz and <prefix>-labels-idx1-ubyte.gz; returns the
// raw image bytes (n * side * side) and labels.
struct ImageSplit {
  Bytes images, labels;
};
inline ImageSplit write_image_split(const std::filesystem::path& dir, const std::string& prefix,
                                    int n, uint64_t seed, int side = 8) {
  Rng rng(seed);
  ImageSplit s;
  const int corner[3][2] = {{0, 0}, {side / 2 - 1, side / 2 - 1}, {side - 3, side - 3}};
  for (int i = 0; i < n; ++i) {
    const int label = i % 3;
    s.labels.push_back(uint8_t(label));
    Bytes image(size_t(side * side));
    for (uint8_t& px : image) px = uint8_t(rng.next_u64() % 70);
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x)
        image[size_t((corner[label][0] + y) * side + corner[label][1] + x)] = uint8_t(190 + rng.next_u64() % 66);
    s.images.insert(s.images.end(), image.begin(), image.end());
  }
  write_bytes(dir / (prefix + "-images-idx3-ubyte.gz"),
              gzip(idx_file({uint32_t(n), uint32_t(side), uint32_t(side)}, s.images)));
  write_bytes(dir / (prefix + "-labels-idx1-ubyte.gz"), gzip(idx_file({uint32_t(n)}, s.labels)));
  return s;
}

}  // namespace heed::test
