#include "heed/io/safetensors.h"

#include "heed/io/json_limits.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <type_traits>

#include "heed/io/atomic_file.h"
#include "heed/kernels/bf16.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

namespace heed::io {

// The format is little-endian and tensors are copied byte for byte.
static_assert(std::endian::native == std::endian::little,
              "safetensors I/O needs a little-endian host");
// F64 -> F32 relies on IEEE 754 conversion (out-of-range values become +-inf).
static_assert(std::numeric_limits<float>::is_iec559 && std::numeric_limits<double>::is_iec559);

namespace {

using json = nlohmann::json;

// Files are read whole into memory; this only guards against absurd sizes.
constexpr uint64_t kMaxFileBytes = uint64_t{1} << 40;
constexpr std::string_view kMetadataKey = "__metadata__";

// A name as a JSON string literal, so hostile names cannot garble messages.
std::string quoted(const std::string& name) {
  return json(name).dump(-1, ' ', false, json::error_handler_t::replace);
}

// A JSON value for a message, cut short: a hostile header may be 100 MiB.
std::string brief(const json& value) {
  constexpr size_t kMax = 64;
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

// Unaligned load: tensor data in a file has no alignment guarantee.
template <class T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// ---- element conversions ----

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in f32
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 0x1f)  // inf (mantissa 0) or nan, keeping the payload
    return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
}

// BF16 is the top half of an f32.
float bf16_to_f32(uint16_t h) { return std::bit_cast<float>(uint32_t{h} << 16); }
float f64_to_f32(double x) { return static_cast<float>(x); }
template <class T>
int64_t to_i64(T x) {
  return static_cast<int64_t>(x);
}
int64_t bool_to_i64(uint8_t x) { return x != 0 ? 1 : 0; }

// Decodes `count` elements of type Src with Fn into the (fresh, contiguous) tensor `dst`.
template <class Src, auto Fn>
void decode(const std::byte* src, size_t count, Tensor& dst) {
  using Dst = decltype(Fn(Src{}));
  Dst* out;
  if constexpr (std::is_same_v<Dst, float>)
    out = dst.f32();
  else
    out = dst.i64();
  for (size_t i = 0; i < count; ++i) out[i] = Fn(load<Src>(src + i * sizeof(Src)));
}

// Same type in file and tensor: one copy.
void copy_bytes(const std::byte* src, size_t count, Tensor& dst) {
  if (count == 0) return;
  void* out = dst.dtype() == DType::F32 ? static_cast<void*>(dst.f32()) : dst.i64();
  std::memcpy(out, src, count * dtype_size(dst.dtype()));
}

struct FileDType {
  const char* name;
  size_t size;  // bytes per element in the file
  DType target;
  void (*decode)(const std::byte* src, size_t count, Tensor& dst);
};

constexpr FileDType kFileDTypes[] = {
    {"F32", 4, DType::F32, copy_bytes},
    {"I64", 8, DType::I64, copy_bytes},
    {"F64", 8, DType::F32, decode<double, f64_to_f32>},
    {"F16", 2, DType::F32, decode<uint16_t, f16_to_f32>},
    {"BF16", 2, DType::F32, decode<uint16_t, bf16_to_f32>},
    {"I32", 4, DType::I64, decode<int32_t, to_i64<int32_t>>},
    {"I16", 2, DType::I64, decode<int16_t, to_i64<int16_t>>},
    {"I8", 1, DType::I64, decode<int8_t, to_i64<int8_t>>},
    {"U8", 1, DType::I64, decode<uint8_t, to_i64<uint8_t>>},
    {"BOOL", 1, DType::I64, decode<uint8_t, bool_to_i64>},
};

std::string accepted_dtypes() {
  std::string names;
  for (const FileDType& d : kFileDTypes) names += (names.empty() ? "" : ", ") + std::string(d.name);
  return names;
}

// ---- header ----

// Parses the header, rejecting duplicate keys (nlohmann would silently keep the last one, so
// two entries for one tensor name would be ambiguous).
json parse_header_json(std::string_view text, const std::string& source) {
  check_json_depth(text, kMaxSafetensorsJsonDepth, source, "header JSON");
  std::vector<std::set<std::string>> open_objects;  // keys seen so far in each open object
  const json::parser_callback_t reject_duplicates = [&](int, json::parse_event_t event,
                                                        json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      HEED_CHECK(open_objects.back().insert(key).second, source, ": header has the key ",
                 quoted(key), " twice in one object");
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), reject_duplicates);
  } catch (const json::exception& e) {
    detail::fail(source, ": header is not valid JSON: ", e.what());
  }
}

std::map<std::string, std::string> parse_metadata(const json& value, const std::string& source) {
  HEED_CHECK(value.is_object(), source, ": \"__metadata__\" must be an object of strings, got ",
             brief(value));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    HEED_CHECK(item.is_string(), source, ": \"__metadata__\" value for ", quoted(key),
               " must be a string, got ", brief(item));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// A JSON integer in [0, INT64_MAX]; false for anything else (negative, fractional, too large,
// not a number).
bool as_index(const json& value, int64_t& out) {
  if (value.is_number_unsigned()) {
    const auto u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    out = static_cast<int64_t>(u);
    return true;
  }
  if (value.is_number_integer()) {
    out = value.get<int64_t>();
    return out >= 0;
  }
  return false;
}

// One tensor's header entry, validated against the data section.
struct Entry {
  std::string name;
  const FileDType* dtype = nullptr;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

const FileDType* parse_dtype(const json& value, const std::string& where) {
  HEED_CHECK(value.is_string(), where, ": \"dtype\" must be a string, got ", brief(value));
  const auto& name = value.get_ref<const std::string&>();
  for (const FileDType& d : kFileDTypes)
    if (name == d.name) return &d;
  detail::fail(where, ": unsupported dtype ", quoted(name), " (accepted: ", accepted_dtypes(), ")");
}

Shape parse_shape(const json& value, const std::string& where) {
  HEED_CHECK(value.is_array(), where, ": \"shape\" must be an array, got ", brief(value));
  Shape shape;
  for (const json& item : value) {
    int64_t dim = 0;
    HEED_CHECK(as_index(item, dim), where, ": shape entry ", brief(item),
               " is not a non-negative integer");
    shape.push_back(dim);
  }
  return shape;
}

// Bytes the tensor occupies in the file; checks that its element count fits int64 and that it
// can fit in the data section at all (before anything is allocated for it).
uint64_t byte_length(const Shape& shape, const FileDType& dtype, uint64_t data_size,
                     const std::string& where) {
  // The product of the non-zero dims must fit too: an empty tensor's strides are built from it.
  int64_t extent = 1;
  bool empty = false;
  for (int64_t dim : shape) {
    empty = empty || dim == 0;
    HEED_CHECK(!__builtin_mul_overflow(extent, std::max<int64_t>(dim, 1), &extent), where,
               ": shape ", shape_str(shape), " has more elements than int64 can count");
  }
  const int64_t numel = empty ? 0 : extent;
  uint64_t bytes = 0;
  HEED_CHECK(!__builtin_mul_overflow(static_cast<uint64_t>(numel), dtype.size, &bytes) &&
                 bytes <= data_size,
             where, ": shape ", shape_str(shape), " of ", dtype.name, " needs more bytes than the ",
             data_size, "-byte data section holds");
  return bytes;
}

void parse_offsets(const json& value, uint64_t data_size, uint64_t expected_bytes,
                   const std::string& where, Entry& entry) {
  int64_t begin = 0, end = 0;
  HEED_CHECK(
      value.is_array() && value.size() == 2 && as_index(value[0], begin) && as_index(value[1], end),
      where, ": \"data_offsets\" must be two non-negative integers, got ", brief(value));
  const std::string offsets =
      "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
  HEED_CHECK(begin <= end, where, ": ", offsets, " begin after end");
  HEED_CHECK(static_cast<uint64_t>(end) <= data_size, where, ": ", offsets,
             " end beyond the data section of ", data_size, " bytes");
  HEED_CHECK(static_cast<uint64_t>(end - begin) == expected_bytes, where, ": ", offsets, " span ",
             end - begin, " bytes but ", entry.dtype->name, shape_str(entry.shape), " needs ",
             expected_bytes);
  entry.begin = static_cast<uint64_t>(begin);
  entry.end = static_cast<uint64_t>(end);
}

Entry parse_entry(const std::string& name, const json& value, uint64_t data_size,
                  const std::string& source) {
  HEED_CHECK(!name.empty(), source, ": a tensor has an empty name");
  const std::string where = source + ": tensor " + quoted(name);
  HEED_CHECK(value.is_object(), where, ": entry must be an object, got ", brief(value));
  for (const auto& item : value.items())
    HEED_CHECK(item.key() == "dtype" || item.key() == "shape" || item.key() == "data_offsets",
               where, ": unexpected field ", quoted(item.key()));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    HEED_CHECK(value.contains(field), where, ": missing field \"", field, "\"");

  Entry entry;
  entry.name = name;
  entry.dtype = parse_dtype(value["dtype"], where);
  entry.shape = parse_shape(value["shape"], where);
  const uint64_t bytes = byte_length(entry.shape, *entry.dtype, data_size, where);
  parse_offsets(value["data_offsets"], data_size, bytes, where, entry);
  return entry;
}

// Orders entries by data offset and rejects byte ranges shared by two tensors. Empty ranges
// occupy no bytes, so they cannot overlap anything.
void sort_and_check_overlaps(std::vector<Entry>& entries, const std::string& source) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Entry* previous = nullptr;  // last non-empty range; earlier ones end no later
  for (const Entry& entry : entries) {
    if (entry.begin == entry.end) continue;
    HEED_CHECK(!previous || previous->end <= entry.begin, source, ": tensor ", quoted(entry.name),
               ": data_offsets [", entry.begin, ", ", entry.end, "] overlap tensor ",
               quoted(previous->name), " at [", previous->begin, ", ", previous->end, "]");
    previous = &entry;
  }
}

Tensor decode_tensor(const Entry& entry, std::span<const std::byte> data) {
  Tensor tensor = Tensor::empty(entry.shape, entry.dtype->target);
  entry.dtype->decode(data.data() + entry.begin, static_cast<size_t>(tensor.numel()), tensor);
  return tensor;
}

// ---- writer ----

void check_tensors_to_write(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::set<std::string_view> seen;
  for (const auto& [name, tensor] : tensors) {
    HEED_CHECK(!name.empty(), "serialize_safetensors: a tensor has an empty name");
    HEED_CHECK(name != kMetadataKey, "serialize_safetensors: the tensor name \"", kMetadataKey,
               "\" is reserved");
    HEED_CHECK(seen.insert(name).second, "serialize_safetensors: duplicate tensor name ",
               quoted(name));
    HEED_CHECK(tensor.defined(), "serialize_safetensors: tensor ", quoted(name), " is undefined");
  }
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::I64:
      return "I64";
  }
  detail::fail("serialize_safetensors: unsupported dtype ", static_cast<int>(dtype));
}

const void* data_of(const Tensor& contiguous) {
  return contiguous.dtype() == DType::F32 ? static_cast<const void*>(contiguous.f32())
                                          : contiguous.i64();
}

// Compact JSON padded with spaces to a multiple of 8 bytes, so the data section is 8-aligned.
std::string header_text(const nlohmann::ordered_json& header) {
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {  // e.g. a name or metadata that is not valid UTF-8
    detail::fail("serialize_safetensors: cannot encode the header: ", e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  HEED_CHECK(text.size() <= kMaxSafetensorsHeaderBytes, "serialize_safetensors: header of ",
             text.size(), " bytes is over the limit of ", kMaxSafetensorsHeaderBytes);
  return text;
}

// Checks the stored checksums of `entries` and of `metadata` against the bytes; throws naming
// the first that does not match.
void verify_checksums(const std::map<std::string, std::string>& metadata, const std::vector<Entry>& entries,
                      std::span<const std::byte> data, const std::string& source) {
  const std::string& text = metadata.at(kChecksumsKey);
  json sums;
  try {
    sums = json::parse(text);
  } catch (const json::exception&) {
    detail::fail(source, ": metadata '", kChecksumsKey, "' is not valid JSON: the file is damaged");
  }
  HEED_CHECK(sums.is_object(), source, ": metadata '", kChecksumsKey, "' is not an object: the file is damaged");
  auto stored = [&](const std::string& name) -> std::string {
    auto it = sums.find(name);
    HEED_CHECK(it != sums.end() && it->is_string(), source, ": ", name == kMetadataKey ? "the metadata" :
               "tensor " + quoted(name), " has no checksum in '", kChecksumsKey, "': the file is damaged or "
               "was edited");
    return it->get<std::string>();
  };
  const std::string meta_want = stored(std::string(kMetadataKey)), meta_got = metadata_checksum(metadata);
  HEED_CHECK(meta_want == meta_got, source, ": the metadata fails its checksum (stored ", meta_want,
             ", computed ", meta_got, "): the file is damaged or was edited");
  for (const Entry& e : entries) {
    const std::string want = stored(e.name);
    const std::string got = checksum_hex(data.subspan(e.begin, e.end - e.begin));
    HEED_CHECK(want == got, source, ": tensor ", quoted(e.name), " fails its checksum (stored ", want,
               ", computed ", got, "): the file is damaged");
  }
  HEED_CHECK(sums.size() == entries.size() + 1, source, ": '", kChecksumsKey, "' lists ", sums.size() - 1,
             " tensors, the file holds ", entries.size(), ": the file is damaged or was edited");
}

}  // namespace

std::string checksum_hex(std::span<const std::byte> bytes) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(XXH64(bytes.data(), bytes.size(), 0)));
  return text;
}

std::string metadata_checksum(const std::map<std::string, std::string>& metadata) {
  XXH64_state_t* state = XXH64_createState();
  HEED_CHECK(state != nullptr, "metadata_checksum: out of memory");
  XXH64_reset(state, 0);
  const char nul = 0;
  for (const auto& [key, value] : metadata) {  // std::map: byte order (char_traits compare as unsigned)
    if (key == kChecksumsKey) continue;
    XXH64_update(state, key.data(), key.size());
    XXH64_update(state, &nul, 1);
    XXH64_update(state, value.data(), value.size());
    XXH64_update(state, &nul, 1);
  }
  const unsigned long long digest = XXH64_digest(state);
  XXH64_freeState(state);
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", digest);
  return text;
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(),
                     [&](const auto& t) { return t.first == name; });
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& [tensor_name, tensor] : tensors)
    if (tensor_name == name) return tensor;
  detail::fail(source, ": no tensor ", quoted(name), " among its ", tensors.size(), " tensors");
}

SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source) {
  HEED_CHECK(bytes.size() >= 8, source, ": file is ", bytes.size(),
             " bytes, shorter than the 8-byte header length");
  const auto header_len = load<uint64_t>(bytes.data());
  HEED_CHECK(header_len > 0, source, ": header length is 0");
  HEED_CHECK(header_len <= kMaxSafetensorsHeaderBytes, source, ": header length ", header_len,
             " is over the limit of ", kMaxSafetensorsHeaderBytes, " bytes");
  HEED_CHECK(header_len <= bytes.size() - 8, source, ": header length ", header_len,
             " extends beyond the file of ", bytes.size(), " bytes");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), header_len);
  const std::span<const std::byte> data = bytes.subspan(8 + header_len);

  const json header = parse_header_json(text, source);
  HEED_CHECK(header.is_object(), source, ": header must be a JSON object, got ", brief(header));
  SafetensorsFile file;
  file.source = source;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey)
      file.metadata = parse_metadata(value, source);
    else
      entries.push_back(parse_entry(key, value, data.size(), source));
  }
  sort_and_check_overlaps(entries, source);
  if (file.metadata.count(kChecksumsKey)) {
    verify_checksums(file.metadata, entries, data, source);
    file.checksummed = true;
    file.metadata.erase(kChecksumsKey);  // verified; a rewrite computes its own
  }
  file.tensors.reserve(entries.size());
  for (const Entry& entry : entries)
    file.tensors.emplace_back(entry.name, decode_tensor(entry, data));
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  // The length and the header are checked against the file's size before the data is read, so
  // a wrong file (a 100 GB one, say) fails at once.
  const RegularFile file = open_regular_file(path, kMaxFileBytes);
  const int fd = file.fd;
  auto read_at = [&](std::byte* dst, uint64_t n, uint64_t offset) {
    uint64_t done = 0;
    while (done < n) {
      const ssize_t got = ::pread(fd, dst + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        const std::string why = got < 0 ? std::strerror(errno) : "unexpected end of file";
        ::close(fd);
        detail::fail(path, ": cannot read: ", why);
      }
      done += static_cast<uint64_t>(got);
    }
  };
  std::vector<std::byte> bytes(std::min<uint64_t>(file.size, 8));
  read_at(bytes.data(), bytes.size(), 0);
  if (bytes.size() == 8) {
    const auto header_len = load<uint64_t>(bytes.data());
    const bool plausible = header_len > 0 && header_len <= kMaxSafetensorsHeaderBytes && header_len <= file.size - 8;
    // An implausible length is reported by the parser, from the 8 bytes alone.
    if (plausible) {
      bytes.resize(file.size);
      read_at(bytes.data() + 8, file.size - 8, 8);
    }
  }
  ::close(fd);
  return parse_safetensors(bytes, path);
}

std::vector<std::byte> serialize_safetensors(
    const std::vector<std::pair<std::string, Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata, const NarrowStorage& narrow) {
  check_tensors_to_write(tensors);
  HEED_CHECK(!metadata.count(kChecksumsKey), "serialize_safetensors: metadata key '", kChecksumsKey,
             "' is reserved for the checksums");
  // What each tensor stores: its own bytes, or (narrow) its values as int8 or bf16.
  struct Payload {
    Tensor contiguous;
    std::vector<std::byte> narrowed;
    const char* dtype;
    bool is_narrowed = false;
    const void* data() const { return is_narrowed ? narrowed.data() : data_of(contiguous); }
    uint64_t bytes() const {
      return is_narrowed ? narrowed.size() : uint64_t(contiguous.numel()) * dtype_size(contiguous.dtype());
    }
  };
  std::vector<Payload> payloads;
  payloads.reserve(tensors.size());
  json sums = json::object();
  sums[std::string(kMetadataKey)] = metadata_checksum(metadata);
  for (const auto& [name, tensor] : tensors) {
    Payload p{tensor.contiguous(), {}, nullptr};
    p.dtype = file_dtype_name(p.contiguous.dtype());
    const size_t n = static_cast<size_t>(p.contiguous.numel());
    HEED_CHECK(!(narrow.i8.count(name) && narrow.bf16.count(name)), "serialize_safetensors: tensor ", quoted(name),
               " is to be stored both as I8 and as BF16");
    if (narrow.i8.count(name)) {
      HEED_CHECK(p.contiguous.dtype() == DType::I64, "serialize_safetensors: tensor ", quoted(name),
                 " is stored as I8 but is ", p.contiguous.str());
      p.narrowed.resize(n);
      for (size_t i = 0; i < n; ++i) {
        const int64_t v = p.contiguous.i64()[i];
        HEED_CHECK(v >= -128 && v <= 127, "serialize_safetensors: tensor ", quoted(name), " holds ", v,
                   ", which I8 cannot store");
        p.narrowed[i] = std::byte(uint8_t(int8_t(v)));
      }
      p.dtype = "I8";
      p.is_narrowed = true;
    } else if (narrow.bf16.count(name)) {
      HEED_CHECK(p.contiguous.dtype() == DType::F32, "serialize_safetensors: tensor ", quoted(name),
                 " is stored as BF16 but is ", p.contiguous.str());
      std::vector<uint16_t> bits(n);
      p.narrowed.resize(2 * n);
      if (n > 0) {  // an empty tensor has no buffer to round or copy
        kernels::round_to_bf16(p.contiguous.f32(), int64_t(n), bits.data());
        std::memcpy(p.narrowed.data(), bits.data(), 2 * n);  // little-endian, as safetensors stores
      }
      p.dtype = "BF16";
      p.is_narrowed = true;
    }
    sums[name] = checksum_hex({static_cast<const std::byte*>(p.data()), size_t(p.bytes())});
    payloads.push_back(std::move(p));
  }
  for (const std::set<std::string>* listed_as : {&narrow.i8, &narrow.bf16})
    for (const std::string& name : *listed_as) {
      bool listed = false;
      for (const auto& t : tensors) listed |= t.first == name;
      HEED_CHECK(listed, "serialize_safetensors: tensor ", quoted(name), " to store as ",
                 listed_as == &narrow.i8 ? "I8" : "BF16", " is not among the tensors");
    }
  std::map<std::string, std::string> stored = metadata;
  try {
    stored[kChecksumsKey] = sums.dump();
  } catch (const json::exception& e) {  // a tensor name that is not valid UTF-8
    detail::fail("serialize_safetensors: cannot encode the header: ", e.what());
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header[std::string(kMetadataKey)] = stored;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Payload& p = payloads[i];
    header[tensors[i].first] = {{"dtype", p.dtype},
                                {"shape", p.contiguous.shape()},
                                {"data_offsets", {offset, offset + p.bytes()}}};
    offset += p.bytes();
  }

  const std::string text = header_text(header);
  std::vector<std::byte> out(8 + text.size() + offset);
  const uint64_t header_len = text.size();
  std::memcpy(out.data(), &header_len, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::byte* data = out.data() + 8 + text.size();
  for (const Payload& p : payloads) {
    if (p.bytes()) std::memcpy(data, p.data(), p.bytes());
    data += p.bytes();
  }
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata,
                       const NarrowStorage& narrow) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata, narrow));
}

}  // namespace heed::io
