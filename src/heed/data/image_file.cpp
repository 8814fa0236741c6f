#include "heed/data/image_file.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <span>
#include <vector>

#include "heed/core/error.h"
#include "heed/io/atomic_file.h"

namespace heed::data {

namespace {

// The largest file read_image accepts: a 16384 x 16384 16-bit PPM plus header room.
constexpr uint64_t kMaxImageFileBytes = uint64_t{2} << 30;

std::string byte_text(uint8_t b) {
  char text[16];
  if (b >= 0x21 && b < 0x7f) {
    std::snprintf(text, sizeof text, "'%c'", b);
  } else {
    std::snprintf(text, sizeof text, "0x%02x", b);
  }
  return text;
}

void check_image_size(int64_t width, int64_t height, const std::string& path) {
  HEED_CHECK(width > 0 && height > 0, path, ": image is ", width, "x", height, " pixels");
  HEED_CHECK(width <= kMaxImageSide && height <= kMaxImageSide, path, ": image is ", width, "x",
             height, " pixels, more than the limit of ", kMaxImageSide, "x", kMaxImageSide);
}

// ---- netpbm (PGM P2/P5, PPM P3/P6) ----

// A read position in a netpbm file.
class NetpbmCursor {
 public:
  NetpbmCursor(std::span<const uint8_t> bytes, const std::string& path)
      : bytes_(bytes), path_(path) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  const uint8_t* here() const { return bytes_.data() + pos_; }

  // Skips whitespace and '#' comments (which run to the end of the line).
  void skip_separators() {
    while (pos_ < bytes_.size()) {
      if (is_space(bytes_[pos_])) {
        ++pos_;
      } else if (bytes_[pos_] == '#') {
        while (pos_ < bytes_.size() && bytes_[pos_] != '\n' && bytes_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  // A decimal number after optional separators; it must end at a separator or the end of file.
  int64_t number(const char* what) {
    skip_separators();
    HEED_CHECK(pos_ < bytes_.size(), path_, ": file ends before the ", what);
    HEED_CHECK(is_digit(bytes_[pos_]), path_, ": expected the ", what, ", found ",
               byte_text(bytes_[pos_]));
    int64_t value = 0;
    for (; pos_ < bytes_.size() && is_digit(bytes_[pos_]); ++pos_) {
      value = 10 * value + (bytes_[pos_] - '0');
      // Any valid field is far below this; stopping here keeps the arithmetic from overflowing.
      HEED_CHECK(value <= (int64_t{1} << 31), path_, ": the ", what, " is too large");
    }
    HEED_CHECK(pos_ == bytes_.size() || is_space(bytes_[pos_]) || bytes_[pos_] == '#', path_,
               ": unexpected ", byte_text(bytes_[pos_]), " after the ", what);
    return value;
  }

  // The single whitespace byte that separates the header from a binary raster.
  void raster_separator() {
    HEED_CHECK(pos_ < bytes_.size() && is_space(bytes_[pos_]), path_,
               ": expected one whitespace byte between the header and the pixel data");
    ++pos_;
  }

  void advance(size_t n) { pos_ += n; }

 private:
  static bool is_space(uint8_t b) {
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
  }
  static bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

  std::span<const uint8_t> bytes_;
  const std::string& path_;
  size_t pos_ = 0;
};

struct NetpbmHeader {
  int64_t channels, width, height, maxval;
  bool binary;
};

NetpbmHeader read_netpbm_header(NetpbmCursor& in, uint8_t kind, const std::string& path) {
  NetpbmHeader header{};
  header.channels = (kind == '3' || kind == '6') ? 3 : 1;
  header.binary = kind == '5' || kind == '6';
  in.advance(2);  // the magic
  header.width = in.number("width");
  header.height = in.number("height");
  check_image_size(header.width, header.height, path);
  header.maxval = in.number("maxval");
  HEED_CHECK(header.maxval >= 1 && header.maxval <= 65535, path, ": maxval is ", header.maxval,
             "; it must be 1 to 65535");
  return header;
}

// Stores sample `index` (interleaved channels, row-major pixels) into the planar [C, H, W] output.
void store_sample(float* out, const NetpbmHeader& header, int64_t index, int64_t value,
                  const std::string& path) {
  HEED_CHECK(value <= header.maxval, path, ": pixel value ", value, " exceeds maxval ",
             header.maxval);
  const int64_t pixel = index / header.channels, channel = index % header.channels;
  out[channel * header.width * header.height + pixel] =
      static_cast<float>(value) / static_cast<float>(header.maxval);
}

void read_binary_raster(NetpbmCursor& in, const NetpbmHeader& header, float* out,
                        const std::string& path) {
  in.raster_separator();
  const int64_t samples = header.channels * header.width * header.height;
  const int64_t sample_bytes = header.maxval > 255 ? 2 : 1;  // 16-bit samples are big-endian
  const uint64_t need = static_cast<uint64_t>(samples * sample_bytes);
  HEED_CHECK(in.remaining() >= need, path, ": pixel data is truncated: ", header.width, "x",
             header.height, " needs ", need, " bytes, the file has ", in.remaining());
  HEED_CHECK(in.remaining() == need, path, ": ", in.remaining() - need,
             " trailing bytes after the pixel data");
  const uint8_t* raw = in.here();
  for (int64_t i = 0; i < samples; ++i) {
    const int64_t value = sample_bytes == 2 ? (raw[2 * i] << 8) | raw[2 * i + 1] : raw[i];
    store_sample(out, header, i, value, path);
  }
}

void read_ascii_raster(NetpbmCursor& in, const NetpbmHeader& header, float* out,
                       const std::string& path) {
  const int64_t samples = header.channels * header.width * header.height;
  for (int64_t i = 0; i < samples; ++i) {
    in.skip_separators();
    HEED_CHECK(in.remaining() > 0, path, ": pixel data is truncated: ", header.width, "x",
               header.height, " needs ", samples, " samples, the file has ", i);
    store_sample(out, header, i, in.number("pixel value"), path);
  }
  in.skip_separators();
  HEED_CHECK(in.remaining() == 0, path, ": unexpected data after the ", samples, " samples");
}

Tensor read_netpbm(std::span<const uint8_t> bytes, const std::string& path) {
  NetpbmCursor in(bytes, path);
  const NetpbmHeader header = read_netpbm_header(in, bytes[1], path);
  // A large raster must be in the file before anything is allocated for it: at least one byte
  // (two for 16-bit) per binary sample, a digit and a separator per ASCII sample. Small ones are
  // left to the raster readers, whose messages say exactly where the data ends.
  const int64_t samples = header.channels * header.height * header.width;
  const int64_t needed = header.binary ? samples * (header.maxval > 255 ? 2 : 1) : 2 * samples - 1;
  HEED_CHECK(samples * int64_t(sizeof(float)) <= (int64_t{1} << 20) ||
                 int64_t(in.remaining()) >= needed,
             path, ": pixel data is truncated: ", header.width,
             "x", header.height, " needs at least ", needed, " more bytes, the file has ",
             in.remaining());
  Tensor image = Tensor::empty({header.channels, header.height, header.width});
  if (header.binary) {
    read_binary_raster(in, header, image.f32(), path);
  } else {
    read_ascii_raster(in, header, image.f32(), path);
  }
  return image;
}

// ---- PNG ----
//
// libpng reports errors by longjmp. Each libpng call sequence runs inside png_guarded(), whose
// setjmp is the landing point, and everything between the setjmp and libpng holds only trivially
// destructible objects, so the jump skips no destructor. C++ objects (the pixel buffer, the
// tensor) live in read_png(), outside the jump.

// Shared with the libpng callbacks: error landing point and message, and the input bytes.
struct PngState {
  std::jmp_buf jump;
  char message[256];
  const uint8_t* data;
  size_t size;
  size_t pos;
};

PngState* state_of(png_structp png) { return static_cast<PngState*>(png_get_error_ptr(png)); }

[[noreturn]] void on_png_error(png_structp png, png_const_charp message) {
  PngState* state = state_of(png);
  std::snprintf(state->message, sizeof state->message, "%s", message);
  std::longjmp(state->jump, 1);
}

// Warnings (bad ancillary chunks, which libpng skips) do not stop decoding.
void on_png_warning(png_structp, png_const_charp) {}

void on_png_read(png_structp png, png_bytep out, size_t n) {
  PngState* state = state_of(png);
  if (n > state->size - state->pos) png_error(png, "file is truncated");
  std::memcpy(out, state->data + state->pos, n);
  state->pos += n;
}

// Runs `calls` (libpng calls only) and returns false if libpng reported an error.
template <class Calls>
bool png_guarded(png_structp png, const Calls& calls) {
  if (setjmp(state_of(png)->jump) != 0) return false;
  calls();
  return true;
}

// Owns the libpng read structures.
class PngReader {
 public:
  explicit PngReader(PngState* state)
      : png_(png_create_read_struct(PNG_LIBPNG_VER_STRING, state, on_png_error, on_png_warning)) {
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;
  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_;
  png_infop info_ = nullptr;
};

// Ancillary chunks heed does not use (text, ICC profiles, ...) are skipped unread. libpng would
// otherwise allocate, and zero, the length their header claims (up to 2 GiB) before finding the
// file shorter: its "chunk data is too large" limit is only a warning when reading.
void skip_unused_chunks(png_structp png) {
  static constexpr png_byte kChunks[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0pCAL\0sCAL";
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kChunks, sizeof kChunks / 5);
}

// Asks libpng for 8-bit grey, grey+alpha, RGB or RGBA; alpha is dropped when copying out.
void set_png_conversions(png_structp png, png_infop info) {
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);  // rounds; png_set_strip_16 would truncate
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
}

// Interleaved 8-bit rows with `channels` samples per pixel to planar [C, H, W] floats.
Tensor png_rows_to_chw(const std::vector<uint8_t>& pixels, int64_t height, int64_t width,
                       int64_t channels) {
  const int64_t colours = channels >= 3 ? 3 : 1;  // skips the alpha sample, if any
  Tensor image = Tensor::empty({colours, height, width});
  float* out = image.f32();
  const int64_t plane = height * width;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < colours; ++c)
      out[c * plane + p] = static_cast<float>(pixels[p * channels + c]) / 255.0f;
  return image;
}

Tensor read_png(std::span<const uint8_t> bytes, const std::string& path) {
  PngState state{};
  state.data = bytes.data();
  state.size = bytes.size();
  PngReader reader(&state);
  HEED_CHECK(reader.ok(), path, ": cannot create a PNG reader");
  png_structp png = reader.png();
  png_infop info = reader.info();

  HEED_CHECK(png_guarded(png,
                         [&] {
                           png_set_read_fn(png, &state, on_png_read);
                           skip_unused_chunks(png);
                           png_read_info(png, info);
                         }),
             path, ": invalid PNG: ", state.message);
  check_image_size(png_get_image_width(png, info), png_get_image_height(png, info), path);
  // Deflate expands at most ~1032:1, so a file cannot hold more raw rows than that; checking
  // before allocating stops a tiny file from claiming gigabytes. The rows are counted as stored
  // (before conversion): a 1-bit or palette image legitimately expands 8-32x when converted.
  {
    const uint64_t stored_bytes =
        uint64_t(png_get_rowbytes(png, info) + 1) * uint64_t(png_get_image_height(png, info));
    HEED_CHECK(stored_bytes <= uint64_t(bytes.size()) * 1032 + 4096, path, ": PNG claims ",
               png_get_image_width(png, info), "x", png_get_image_height(png, info), " pixels (",
               stored_bytes, " bytes of rows), more than ", bytes.size(),
               " compressed bytes can hold");
  }
  HEED_CHECK(png_guarded(png, [&] { set_png_conversions(png, info); }), path,
             ": invalid PNG: ", state.message);

  const int64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  const int64_t channels = png_get_channels(png, info);
  const size_t row_bytes = png_get_rowbytes(png, info);
  HEED_CHECK(channels >= 1 && channels <= 4 && row_bytes == static_cast<size_t>(width * channels),
             path, ": unexpected PNG layout after conversion (", channels, " channels, ", row_bytes,
             " bytes per row)");
  std::vector<uint8_t> pixels(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (int64_t y = 0; y < height; ++y) rows[y] = pixels.data() + y * row_bytes;
  // png_read_end checks the rest of the file too (chunk CRCs, IEND).
  HEED_CHECK(png_guarded(png,
                         [&] {
                           png_read_image(png, rows.data());
                           png_read_end(png, nullptr);
                         }),
             path, ": invalid PNG: ", state.message);
  return png_rows_to_chw(pixels, height, width, channels);
}

bool is_png(std::span<const uint8_t> bytes) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes.size() >= 8 && std::memcmp(bytes.data(), kSignature, 8) == 0;
}

bool is_netpbm(std::span<const uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 'P' &&
         (bytes[1] == '2' || bytes[1] == '3' || bytes[1] == '5' || bytes[1] == '6');
}

void check_chw(const Tensor& chw, const char* op) {
  HEED_CHECK(chw.defined() && chw.dtype() == DType::F32 && chw.dim() == 3, op,
             ": expected an f32 [C, H, W] image, got ", chw.defined() ? chw.str() : "undefined");
}

// Source rows (or columns) and weight for one output coordinate of a bilinear resize.
struct Tap {
  int64_t lo, hi;
  float weight_hi;
};

std::vector<Tap> bilinear_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  std::vector<Tap> taps(out);
  for (int64_t d = 0; d < out; ++d) {
    // Half-pixel centres; coordinates left of the first centre clamp to it (as PyTorch does).
    const double src = std::max((static_cast<double>(d) + 0.5) * scale - 0.5, 0.0);
    const int64_t lo = std::min(static_cast<int64_t>(src), in - 1);
    taps[d] = {lo, std::min(lo + 1, in - 1), static_cast<float>(src - static_cast<double>(lo))};
  }
  return taps;
}

}  // namespace

Tensor read_image(const std::string& path) {
  const std::vector<std::byte> file = io::read_file(path, kMaxImageFileBytes);
  const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(file.data()), file.size());
  if (is_png(bytes)) return read_png(bytes, path);
  if (is_netpbm(bytes)) return read_netpbm(bytes, path);
  std::string head;
  for (size_t i = 0; i < std::min<size_t>(bytes.size(), 4); ++i) {
    head += ' ';
    head += byte_text(bytes[i]);
  }
  detail::fail(path, ": unknown image format (first bytes:", head.empty() ? " none" : head,
               "); supported are PNG and PGM/PPM (P2, P3, P5, P6)");
}

Tensor to_grayscale(const Tensor& chw) {
  check_chw(chw, "to_grayscale");
  const int64_t channels = chw.size(0);
  HEED_CHECK(channels == 1 || channels == 3, "to_grayscale: expected 1 or 3 channels, got ",
             chw.str());
  if (channels == 1) return chw.clone();
  const Tensor src = chw.contiguous();
  const int64_t plane = chw.size(1) * chw.size(2);
  Tensor gray = Tensor::empty({1, chw.size(1), chw.size(2)});
  const float* in = src.f32();
  float* out = gray.f32();
  for (int64_t p = 0; p < plane; ++p)
    out[p] = 0.299f * in[p] + 0.587f * in[plane + p] + 0.114f * in[2 * plane + p];
  return gray;
}

Tensor resize_bilinear(const Tensor& chw, int64_t h, int64_t w) {
  check_chw(chw, "resize_bilinear");
  HEED_CHECK(h > 0 && w > 0 && chw.size(1) > 0 && chw.size(2) > 0,
             "resize_bilinear: cannot resize ", chw.str(), " to ", h, "x", w);
  const Tensor src = chw.contiguous();
  const int64_t channels = chw.size(0), in_h = chw.size(1), in_w = chw.size(2);
  const std::vector<Tap> rows = bilinear_taps(in_h, h), cols = bilinear_taps(in_w, w);
  Tensor out = Tensor::empty({channels, h, w});
  float* dst = out.f32();
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = src.f32() + c * in_h * in_w;
    for (int64_t y = 0; y < h; ++y) {
      const float* top = plane + rows[y].lo * in_w;
      const float* bottom = plane + rows[y].hi * in_w;
      const float wy = rows[y].weight_hi;
      for (int64_t x = 0; x < w; ++x) {
        const Tap& t = cols[x];
        const float upper = top[t.lo] + t.weight_hi * (top[t.hi] - top[t.lo]);
        const float lower = bottom[t.lo] + t.weight_hi * (bottom[t.hi] - bottom[t.lo]);
        *dst++ = upper + wy * (lower - upper);
      }
    }
  }
  return out;
}

}  // namespace heed::data
