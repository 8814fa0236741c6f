#include "heed/data/idx.h"

#define ZLIB_CONST  // zlib's next_in becomes a pointer to const
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>

#include "heed/core/error.h"
#include "heed/io/atomic_file.h"

namespace heed::data {

namespace {

constexpr size_t kBufferBytes = size_t{1} << 16;

std::string hex_byte(uint8_t value) {
  char text[8];
  std::snprintf(text, sizeof text, "%02x", value);
  return text;
}

const char* idx_type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0b:
      return "int16";
    case 0x0c:
      return "int32";
    case 0x0d:
      return "float32";
    case 0x0e:
      return "float64";
    default:
      return "not an IDX type";
  }
}

// "60000x28x28", the way IDX sizes are usually written.
std::string dims_str(const std::vector<int64_t>& dims) {
  std::string text;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += 'x';
    text += std::to_string(dims[i]);
  }
  return text;
}

// A file read through a buffer, so that the first bytes can be inspected (gzip or not) and then
// handed on to whichever decoder reads the rest.
class InputFile {
 public:
  explicit InputFile(const std::string& path)
      : path_(path), file_(open(path)), buffer_(kBufferBytes) {}
  ~InputFile() { std::fclose(file_); }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  // The unread buffered bytes, refilled when used up; empty only at the end of the file.
  std::span<const uint8_t> peek() {
    if (pos_ == end_ && !eof_) fill();
    return {buffer_.data() + pos_, end_ - pos_};
  }
  void consume(size_t n) { pos_ += n; }

 private:
  void fill() {
    pos_ = 0;
    end_ = std::fread(buffer_.data(), 1, buffer_.size(), file_);
    if (end_ < buffer_.size()) {
      HEED_CHECK(!std::ferror(file_), path_, ": read error: ", std::strerror(errno));
      eof_ = true;
    }
  }

  // A regular file only (a FIFO or /dev/zero is refused before any read); IDX data have no
  // size limit of their own: the header's dimensions are checked against what the file holds.
  static std::FILE* open(const std::string& path) {
    const io::RegularFile file = io::open_regular_file(path, ~uint64_t{0});
    std::FILE* stream = ::fdopen(file.fd, "rb");
    if (stream == nullptr) ::close(file.fd);
    HEED_CHECK(stream != nullptr, path, ": cannot open: ", std::strerror(errno));
    return stream;
  }

  std::string path_;
  std::FILE* file_;
  std::vector<uint8_t> buffer_;
  size_t pos_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
};

// The decoded bytes of a file: the file itself or its gzip content.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `n` bytes into `dst`; returns fewer only at the end of the data.
  virtual size_t read(uint8_t* dst, size_t n) = 0;
};

class RawSource final : public ByteSource {
 public:
  explicit RawSource(InputFile& in) : in_(in) {}
  size_t read(uint8_t* dst, size_t n) override {
    size_t done = 0;
    while (done < n) {
      const std::span<const uint8_t> input = in_.peek();
      if (input.empty()) break;
      const size_t take = std::min(input.size(), n - done);
      std::memcpy(dst + done, input.data(), take);
      in_.consume(take);
      done += take;
    }
    return done;
  }

 private:
  InputFile& in_;
};

// Inflates gzip data. Output only ever goes into the caller's buffer, so the caller's size is a
// hard limit; zlib checks each member's CRC and length trailer when the member ends, and nothing
// here reads the trailer to size a buffer. Concatenated members (valid gzip) are decoded in turn.
class GzipSource final : public ByteSource {
 public:
  GzipSource(InputFile& in, const std::string& path) : in_(in), path_(path) {
    // 16 + MAX_WBITS: accept the gzip wrapper only.
    HEED_CHECK(inflateInit2(&stream_, 16 + MAX_WBITS) == Z_OK, path, ": cannot initialise zlib");
  }
  ~GzipSource() override { inflateEnd(&stream_); }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  size_t read(uint8_t* dst, size_t n) override {
    // avail_out is 32-bit; callers never ask for more than the 1 GiB payload limit at once.
    stream_.next_out = dst;
    stream_.avail_out = static_cast<uInt>(n);
    while (stream_.avail_out > 0 && step()) {
    }
    return n - stream_.avail_out;
  }

 private:
  // One inflate call on the buffered input; false at the clean end of the data.
  bool step() {
    const std::span<const uint8_t> input = in_.peek();
    if (input.empty()) {
      HEED_CHECK(!in_member_, path_, ": gzip data is truncated (the file ends inside the stream)");
      return false;
    }
    if (!in_member_) {  // bytes after a member's end: another member must follow
      HEED_CHECK(inflateReset(&stream_) == Z_OK, path_, ": cannot reset zlib");
      in_member_ = true;
    }
    stream_.next_in = input.data();
    stream_.avail_in = static_cast<uInt>(input.size());
    const int status = inflate(&stream_, Z_NO_FLUSH);
    in_.consume(input.size() - stream_.avail_in);
    if (status == Z_STREAM_END) {
      in_member_ = false;
    } else if (status != Z_OK && status != Z_BUF_ERROR) {
      HEED_CHECK(status != Z_MEM_ERROR, path_, ": out of memory while inflating gzip data");
      detail::fail(path_, ": corrupt gzip data (",
                   stream_.msg ? std::string(stream_.msg) : "zlib error " + std::to_string(status),
                   ")");
    }
    return true;
  }

  InputFile& in_;
  std::string path_;
  z_stream stream_{};
  bool in_member_ = true;
};

bool is_gzip(InputFile& in) {
  const std::span<const uint8_t> head = in.peek();
  return head.size() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Reads and checks the magic; returns the number of dimensions.
int read_magic(ByteSource& source, const std::string& path) {
  std::array<uint8_t, 4> magic{};
  const size_t got = source.read(magic.data(), magic.size());
  HEED_CHECK(got == magic.size(), path, ": too short for an IDX header (", got, " bytes)");
  HEED_CHECK(magic[0] == 0 && magic[1] == 0, path, ": not an IDX file (magic bytes ",
             hex_byte(magic[0]), " ", hex_byte(magic[1]), " ", hex_byte(magic[2]), " ",
             hex_byte(magic[3]), ", expected 00 00 08 <ndims>)");
  HEED_CHECK(magic[2] == 0x08, path, ": IDX data type 0x", hex_byte(magic[2]), " (",
             idx_type_name(magic[2]), ") is not supported; only 0x08 (unsigned byte) is");
  HEED_CHECK(magic[3] >= 1 && magic[3] <= 4, path, ": IDX header declares ", int{magic[3]},
             " dimensions; 1 to 4 are supported");
  return magic[3];
}

std::vector<int64_t> read_dims(ByteSource& source, int ndims, const std::string& path) {
  std::array<uint8_t, 16> raw{};
  const size_t want = 4 * static_cast<size_t>(ndims);
  const size_t got = source.read(raw.data(), want);
  HEED_CHECK(got == want, path, ": IDX header is truncated (", ndims, " dimensions need ", want,
             " bytes after the magic, the file has ", got, ")");
  std::vector<int64_t> dims(ndims);
  for (int i = 0; i < ndims; ++i) dims[i] = big_endian_u32(raw.data() + 4 * i);
  return dims;
}

// The payload size the dimensions imply, checked against the limit without overflowing.
size_t payload_bytes(const std::vector<int64_t>& dims, const std::string& path) {
  uint64_t product = 1;
  for (size_t i = 0; i < dims.size(); ++i) {
    HEED_CHECK(dims[i] > 0, path, ": IDX dimension ", i, " is 0 (dims ", dims_str(dims), ")");
    // product <= limit and dims[i] < 2^32, so the multiplication cannot overflow 64 bits.
    product *= static_cast<uint64_t>(dims[i]);
    HEED_CHECK(product <= kMaxIdxPayloadBytes, path, ": IDX header claims ", dims_str(dims),
               " bytes, more than the limit of ", kMaxIdxPayloadBytes, " bytes");
  }
  return static_cast<size_t>(product);
}

// Counts what is left in `source` (without storing it), stopping after `limit` bytes.
uint64_t count_remaining(ByteSource& source, uint64_t limit) {
  std::vector<uint8_t> scratch(kBufferBytes);
  uint64_t count = 0;
  while (count <= limit) {
    const size_t got = source.read(scratch.data(), scratch.size());
    count += got;
    if (got < scratch.size()) break;
  }
  return count;
}

std::vector<uint8_t> read_payload(ByteSource& source, const std::vector<int64_t>& dims,
                                  const std::string& path) {
  const size_t size = payload_bytes(dims, path);
  // Grow as data arrives instead of trusting the header: a tiny (or tiny compressed) file that
  // claims 1 GiB only costs memory in proportion to what it actually holds.
  std::vector<uint8_t> data;
  size_t have = 0;
  while (have < size) {
    const size_t target = std::min(size, std::max(2 * have, kBufferBytes));
    data.resize(target);
    have += source.read(data.data() + have, target - have);
    if (have < target) break;
  }
  const std::string claim = dims_str(dims) + " = " + std::to_string(size) + " bytes";
  HEED_CHECK(have == size, path, ": IDX header claims ", claim, " but the file holds ", have);
  // Reading to the end also makes zlib verify the gzip CRC and length.
  const uint64_t extra = count_remaining(source, kMaxIdxPayloadBytes);
  HEED_CHECK(extra == 0, path, ": IDX header claims ", claim, " but the file holds ",
             extra > kMaxIdxPayloadBytes ? "more than " : "", size + extra, " (",
             extra > kMaxIdxPayloadBytes ? "over " : "", extra, " trailing bytes)");
  return data;
}

// [N, H, W] (one channel) or [N, H, W, C] bytes as f32 [N, C, H, W] in [0, 1].
Tensor images_to_nchw(const IdxArray& idx) {
  const int64_t n = idx.dims[0], h = idx.dims[1], w = idx.dims[2];
  const int64_t c = idx.dims.size() == 4 ? idx.dims[3] : 1;
  std::array<float, 256> scale{};
  for (int v = 0; v < 256; ++v) scale[v] = static_cast<float>(v) / 255.0f;
  Tensor images = Tensor::empty({n, c, h, w});
  float* out = images.f32();
  const uint8_t* in = idx.data.data();
  const int64_t pixels = h * w;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < pixels; ++p)
      for (int64_t ch = 0; ch < c; ++ch)
        out[(i * c + ch) * pixels + p] = scale[in[(i * pixels + p) * c + ch]];
  return images;
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// `<dir>/<name>.gz` if it exists, else `<dir>/<name>` if it exists, else an error naming both.
std::string find_idx_file(const std::string& dir, const std::string& name, const char* what) {
  const std::string candidates[] = {join_path(dir, name + ".gz"), join_path(dir, name)};
  for (const std::string& candidate : candidates) {
    std::error_code ignored;
    if (std::filesystem::exists(candidate, ignored)) return candidate;
  }
  detail::fail(dir, ": no ", what, " file: tried ", candidates[0], " and ", candidates[1]);
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  InputFile in(path);
  RawSource raw(in);
  std::unique_ptr<GzipSource> gzip;
  if (is_gzip(in)) gzip = std::make_unique<GzipSource>(in, path);
  ByteSource& source = gzip ? static_cast<ByteSource&>(*gzip) : raw;

  IdxArray array;
  const int ndims = read_magic(source, path);
  array.dims = read_dims(source, ndims, path);
  array.data = read_payload(source, array.dims, path);
  return array;
}

Tensor read_idx_images(const std::string& path) {
  const IdxArray images = read_idx(path);
  HEED_CHECK(images.dims.size() == 3 || images.dims.size() == 4, path,
             ": image IDX must have dims [N, H, W] or [N, H, W, C], not ", dims_str(images.dims));
  return images_to_nchw(images);
}

ImageSet load_idx_images(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path);
  HEED_CHECK(images.dims.size() == 3 || images.dims.size() == 4, images_path,
             ": image IDX must have dims [N, H, W] or [N, H, W, C], not ", dims_str(images.dims));
  const IdxArray labels = read_idx(labels_path);
  HEED_CHECK(labels.dims.size() == 1, labels_path, ": label IDX must have dims [N], not ",
             dims_str(labels.dims));
  HEED_CHECK(images.dims[0] == labels.dims[0], images_path, " holds ", images.dims[0],
             " images but ", labels_path, " holds ", labels.dims[0], " labels");

  ImageSet set;
  set.images = images_to_nchw(images);
  set.labels = Tensor::empty({labels.dims[0]}, DType::I64);
  std::copy(labels.data.begin(), labels.data.end(), set.labels.i64());
  set.num_classes = *std::max_element(labels.data.begin(), labels.data.end()) + int64_t{1};
  set.images_path = images_path;
  set.labels_path = labels_path;
  return set;
}

void check_labels(const ImageSet& set, int64_t classes, bool every_class_present) {
  const int64_t n = set.labels.numel();
  const int64_t* labels = set.labels.i64();
  std::vector<int64_t> first(size_t(std::max<int64_t>(classes, 0)), -1);
  for (int64_t i = 0; i < n; ++i) {
    HEED_CHECK(labels[i] >= 0 && labels[i] < classes, set.labels_path, ": record ", i, " has label ", labels[i],
               ", outside the ", classes, " classes (0 to ", classes - 1, ") of data.class_names");
    if (first[size_t(labels[i])] < 0) first[size_t(labels[i])] = i;
  }
  if (!every_class_present) return;
  for (int64_t c = 0; c < classes; ++c)
    HEED_CHECK(first[size_t(c)] >= 0, set.labels_path, ": no record has label ", c, " although the largest label is ",
               classes - 1, " (record ", first[size_t(classes - 1)], "); a stray label would make ", classes,
               " classes: fix the file, or list the classes in data.class_names");
}

bool has_idx_split(const std::string& dir, const std::string& prefix) {
  for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"})
    for (const char* ext : {"", ".gz"})
      if (std::filesystem::exists(dir + "/" + prefix + kind + ext)) return true;
  return false;
}

ImageSet load_idx_split(const std::string& dir, const std::string& prefix) {
  const std::string images = find_idx_file(dir, prefix + "-images-idx3-ubyte", "images");
  const std::string labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte", "labels");
  return load_idx_images(images, labels);
}

}  // namespace heed::data
