// Reading and writing the huggingface safetensors format:
//   [u64 little-endian N][N bytes of JSON header][data section]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" object of strings.
//
// The reader treats the file as hostile: every length, offset and shape is checked before use,
// and each failure is a heed::Error whose message starts with the source name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "heed/core/tensor.h"

namespace heed::io {

// heed's integrity extension: the metadata entry kChecksumsKey holds a JSON object mapping every
// tensor's name to the xxHash64 (seed 0, 16 lower-case hex digits) of its data bytes as stored,
// and "__metadata__" to the xxHash64 of the other metadata entries (each key and value followed by
// a NUL byte, keys in byte order). docs/checkpoint-format.md.
inline constexpr const char* kChecksumsKey = "heed.checksums";

struct SafetensorsFile {
  // "__metadata__" (string -> string only), without kChecksumsKey
  std::map<std::string, std::string> metadata;
  // Whether the file carried checksums (all verified: a mismatch is an error). Files from other
  // tools, and heed's before checksums, have none.
  bool checksummed = false;
  std::vector<std::pair<std::string, Tensor>> tensors;  // in order of data offset
  std::string source;                                   // file name used in error messages

  bool contains(const std::string& name) const;
  const Tensor& get(const std::string& name) const;  // Error naming source + tensor if missing
};

// Header lengths above this are rejected before any allocation.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = uint64_t{100} << 20;
// Deepest '[' / '{' nesting accepted in a header (a valid one needs 3).
inline constexpr int kMaxSafetensorsJsonDepth = 16;

// Decodes a whole file held in memory; checksums, when present, are verified first (an error
// names the tensor, or the metadata, that does not match). F32 and I64 load as is; F64, F16 and BF16 are converted
// to F32 and I32, I16, I8, U8 and BOOL to I64. The tensors own fresh copies of the data.
SafetensorsFile parse_safetensors(std::span<const std::byte> bytes, const std::string& source);
// Reads a regular file: the 8-byte length and the header are checked against the file's size
// before the rest is read.
SafetensorsFile read_safetensors(const std::string& path);

// xxHash64 (seed 0) as 16 lower-case hex digits, and the digest of a metadata map (every entry
// but kChecksumsKey), as kChecksumsKey stores them.
std::string checksum_hex(std::span<const std::byte> bytes);
std::string metadata_checksum(const std::map<std::string, std::string>& metadata);

// Tensors stored narrower than they are held: I64 tensors named in `i8` (int8 weights) as I8,
// every value fitting; F32 tensors named in `bf16` as BF16, rounded to nearest even (as
// kernels::to_bf16, so a bf16 model's weights are stored exactly).
struct NarrowStorage {
  std::set<std::string> i8, bf16;
};

// Encodes F32 / I64 tensors in the given order (non-contiguous ones are made contiguous), with
// checksums (kChecksumsKey) of the stored bytes. Names must be unique, non-empty and not
// "__metadata__"; metadata must not use kChecksumsKey itself; `narrow` names listed tensors only.
std::vector<std::byte> serialize_safetensors(
    const std::vector<std::pair<std::string, Tensor>>& tensors,
    const std::map<std::string, std::string>& metadata, const NarrowStorage& narrow = {});
// serialize_safetensors + write_file_atomic.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {},
                       const NarrowStorage& narrow = {});

}  // namespace heed::io
