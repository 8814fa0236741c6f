// Tensor: a typed, strided view onto shared, 64-byte aligned storage.
// Views (reshape of a contiguous tensor, transpose, permute, slice) share storage; `contiguous()`
// and `clone()` copy. Kernels take raw pointers from contiguous tensors.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/shape.h"

namespace heed {

class Rng;

enum class DType : uint8_t { F32, I64 };
const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

// Owns an aligned byte buffer; shared between a tensor and its views.
class Storage {
 public:
  explicit Storage(size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  std::byte* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  std::byte* data_;
  size_t bytes_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (no storage)

  // Factories. Shapes with any negative dimension are rejected.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32);
  static Tensor full(const Shape& shape, float value);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
  static Tensor from_indices(const Shape& shape, const std::vector<int64_t>& values);
  static Tensor randn(const Shape& shape, Rng& rng, float stddev = 1.0f);
  static Tensor uniform(const Shape& shape, Rng& rng, float lo, float hi);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return numel_of(shape_); }
  bool is_contiguous() const;
  std::string str() const;  // "f32[2, 3]" for messages

  // Typed element pointers (at the view's offset). f32()/i64() check the dtype.
  float* f32();
  const float* f32() const;
  int64_t* i64();
  const int64_t* i64() const;
  std::span<float> f32_span();  // requires a contiguous tensor
  std::span<const float> f32_span() const;

  // Element access by multi-index (slow; for tests and tools).
  float at(std::initializer_list<int64_t> index) const;
  float item() const;  // single-element tensor
  std::vector<float> to_vector() const;  // logical (row-major) order, any strides

  // Views and copies.
  Tensor view(const Shape& shape) const;     // contiguous only; one dimension may be -1
  Tensor reshape(const Shape& shape) const;  // view when contiguous, copy otherwise
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;  // [start, end) along dim
  Tensor contiguous() const;
  Tensor clone() const;

  // In-place.
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& src);  // same shape and dtype, any strides

  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  std::byte* raw() const;
  void check_dtype(DType want, const char* what) const;

  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  Strides strides_;
  DType dtype_ = DType::F32;
};

}  // namespace heed
