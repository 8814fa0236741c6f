// libFuzzer target: heed::io::parse_safetensors on the input bytes.
//
// Expected outcomes: a parsed file or heed::Error. Anything else (a crash, a sanitizer report,
// another exception type, a timeout or a huge allocation) is a bug. A file that parses must also
// survive serialize_safetensors and parse back to the same names, shapes, bytes and metadata,
// and, written with its F32 tensors stored as BF16, parse back to each value's bf16 rounding.
// Build and run: scripts/fuzz.sh (docs/reliability.md).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "heed/core/error.h"
#include "heed/io/safetensors.h"
#include "heed/kernels/bf16.h"

namespace {

const void* data_of(const heed::Tensor& t) {
  return t.dtype() == heed::DType::F32 ? static_cast<const void*>(t.f32())
                                       : static_cast<const void*>(t.i64());
}

// Round trip through the writer: same tensors (bit for bit, NaN payloads included).
void check_round_trip(const heed::io::SafetensorsFile& file) {
  std::vector<std::byte> bytes;
  try {
    bytes = heed::io::serialize_safetensors(file.tensors, file.metadata);
  } catch (const heed::Error&) {
    return;  // e.g. a tensor name the writer refuses ("__metadata__" cannot be parsed as one)
  }
  const heed::io::SafetensorsFile again = heed::io::parse_safetensors(bytes, "round trip");
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size())
    __builtin_trap();
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const auto& [name_a, a] = file.tensors[i];
    const auto& [name_b, b] = again.tensors[i];
    if (name_a != name_b || a.dtype() != b.dtype() || a.shape() != b.shape()) __builtin_trap();
    const size_t n = static_cast<size_t>(a.numel()) * heed::dtype_size(a.dtype());
    if (n != 0 && std::memcmp(data_of(a), data_of(b), n) != 0) __builtin_trap();
  }
}

// The F32 tensors stored as BF16 (a bf16 checkpoint's weights) read back as kernels' rounding.
void check_bf16_round_trip(const heed::io::SafetensorsFile& file) {
  heed::io::NarrowStorage narrow;
  for (const auto& [name, t] : file.tensors)
    if (t.dtype() == heed::DType::F32) narrow.bf16.insert(name);
  std::vector<std::byte> bytes;
  try {
    bytes = heed::io::serialize_safetensors(file.tensors, file.metadata, narrow);
  } catch (const heed::Error&) {
    return;
  }
  const heed::io::SafetensorsFile again = heed::io::parse_safetensors(bytes, "bf16 round trip");
  if (again.tensors.size() != file.tensors.size()) __builtin_trap();
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const heed::Tensor& a = file.tensors[i].second;
    const heed::Tensor& b = again.tensors[i].second;
    if (a.dtype() != heed::DType::F32) continue;
    if (b.dtype() != heed::DType::F32 || a.shape() != b.shape()) __builtin_trap();
    for (int64_t k = 0; k < a.numel(); ++k) {
      const float want = heed::kernels::from_bf16(heed::kernels::to_bf16(a.f32()[k]));
      if (std::memcmp(&want, b.f32() + k, sizeof want) != 0) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const heed::io::SafetensorsFile file = heed::io::parse_safetensors(bytes, "fuzz.safetensors");
    for (const auto& [name, tensor] : file.tensors)
      if (!file.contains(name) || file.get(name).shape() != tensor.shape()) __builtin_trap();
    check_round_trip(file);
    check_bf16_round_trip(file);
  } catch (const heed::Error&) {
    // Rejected with a message: the expected outcome for a hostile file.
  }
  return 0;
}
