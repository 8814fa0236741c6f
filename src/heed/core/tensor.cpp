#include "heed/core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>

#include "heed/core/allocator.h"
#include "heed/core/rng.h"
#include "heed/core/strided_copy.h"

namespace heed {

namespace {
// Visits every element of `shape` in row-major order, calling f(offset) with the strided offset.
template <class F>
void for_each_offset(const Shape& shape, const Strides& strides, int64_t base, F&& f) {
  const int64_t n = numel_of(shape);
  if (n == 0) return;
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0);
  int64_t offset = base;
  for (int64_t i = 0; i < n; ++i) {
    f(i, offset);
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d]) {
        offset += strides[d];
        break;
      }
      offset -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

void check_shape(const Shape& shape, const char* what) {
  for (int64_t d : shape)
    HEED_CHECK(d >= 0, what, ": negative dimension in shape ", shape_str(shape));
}
}  // namespace

const char* dtype_name(DType dtype) { return dtype == DType::F32 ? "f32" : "i64"; }
size_t dtype_size(DType dtype) { return dtype == DType::F32 ? 4 : 8; }

Storage::Storage(size_t bytes)
    : data_(static_cast<std::byte*>(allocate_aligned(bytes))), bytes_(bytes) {}

Storage::~Storage() { free_aligned(data_, bytes_); }

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  check_shape(shape, "Tensor::empty");
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(numel_of(shape)) * dtype_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  // Gradient buffers are zeroed on every backward; split large ones across the threads.
  std::byte* p = t.raw();
  const int64_t bytes = static_cast<int64_t>(t.storage_->bytes());
  constexpr int64_t kChunk = int64_t{1} << 18;
  const int64_t chunks = (bytes + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c)
    std::memset(p + c * kChunk, 0, size_t(std::min(kChunk, bytes - c * kChunk)));
  return t;
}

Tensor Tensor::full(const Shape& shape, float value) { return empty(shape).fill_(value); }

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  HEED_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "Tensor::from_vector: ",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape);
  std::copy(values.begin(), values.end(), t.f32());
  return t;
}

Tensor Tensor::from_indices(const Shape& shape, const std::vector<int64_t>& values) {
  HEED_CHECK(static_cast<int64_t>(values.size()) == numel_of(shape), "Tensor::from_indices: ",
             values.size(), " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, DType::I64);
  std::copy(values.begin(), values.end(), t.i64());
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, float stddev) {
  Tensor t = empty(shape);
  for (float& x : t.f32_span()) x = stddev * rng.normal();
  return t;
}

Tensor Tensor::uniform(const Shape& shape, Rng& rng, float lo, float hi) {
  Tensor t = empty(shape);
  for (float& x : t.f32_span()) x = rng.uniform(lo, hi);
  return t;
}

int64_t Tensor::size(int64_t d) const { return shape_[normalize_dim(d, dim(), "Tensor::size")]; }

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

std::string Tensor::str() const {
  return defined() ? std::string(dtype_name(dtype_)) + shape_str(shape_) : "undefined";
}

std::byte* Tensor::raw() const {
  HEED_CHECK(defined(), "tensor access: the tensor is undefined");
  return storage_->data() + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

void Tensor::check_dtype(DType want, const char* what) const {
  HEED_CHECK(defined(), what, ": the tensor is undefined");
  HEED_CHECK(dtype_ == want, what, ": expected ", dtype_name(want), ", got ", str());
}

float* Tensor::f32() {
  check_dtype(DType::F32, "Tensor::f32");
  return reinterpret_cast<float*>(raw());
}
const float* Tensor::f32() const {
  check_dtype(DType::F32, "Tensor::f32");
  return reinterpret_cast<const float*>(raw());
}
int64_t* Tensor::i64() {
  check_dtype(DType::I64, "Tensor::i64");
  return reinterpret_cast<int64_t*>(raw());
}
const int64_t* Tensor::i64() const {
  check_dtype(DType::I64, "Tensor::i64");
  return reinterpret_cast<const int64_t*>(raw());
}

std::span<float> Tensor::f32_span() {
  HEED_CHECK(is_contiguous(), "Tensor::f32_span: tensor ", str(), " is not contiguous");
  return {f32(), static_cast<size_t>(numel())};
}
std::span<const float> Tensor::f32_span() const {
  HEED_CHECK(is_contiguous(), "Tensor::f32_span: tensor ", str(), " is not contiguous");
  return {f32(), static_cast<size_t>(numel())};
}

float Tensor::at(std::initializer_list<int64_t> index) const {
  HEED_CHECK(static_cast<int64_t>(index.size()) == dim(), "Tensor::at: ", index.size(),
             " indices for tensor ", str());
  int64_t off = 0, d = 0;
  for (int64_t i : index) {
    HEED_CHECK(i >= 0 && i < shape_[d], "Tensor::at: index ", i, " out of range for dimension ", d,
               " of ", str());
    off += i * strides_[d++];
  }
  if (dtype_ == DType::I64) return static_cast<float>(i64()[off]);
  return f32()[off];
}

float Tensor::item() const {
  HEED_CHECK(numel() == 1, "Tensor::item: tensor ", str(), " does not hold exactly one element");
  return dtype_ == DType::I64 ? static_cast<float>(*i64()) : *f32();
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  if (dtype_ == DType::I64) {
    const int64_t* p = i64();
    for_each_offset(shape_, strides_, 0, [&](int64_t i, int64_t o) { out[i] = float(p[o]); });
  } else {
    const float* p = f32();
    for_each_offset(shape_, strides_, 0, [&](int64_t i, int64_t o) { out[i] = p[o]; });
  }
  return out;
}

Tensor Tensor::view(const Shape& shape) const {
  HEED_CHECK(is_contiguous(), "Tensor::view: tensor ", str(),
             " is not contiguous; use reshape() or contiguous()");
  Shape resolved = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < resolved.size(); ++i) {
    if (resolved[i] == -1) {
      HEED_CHECK(infer < 0, "Tensor::view: more than one -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      HEED_CHECK(resolved[i] >= 0, "Tensor::view: negative dimension in ", shape_str(shape));
      known *= resolved[i];
    }
  }
  if (infer >= 0) {
    HEED_CHECK(known != 0 && numel() % known == 0, "Tensor::view: cannot view ", str(), " as ",
               shape_str(shape));
    resolved[infer] = numel() / known;
  }
  HEED_CHECK(numel_of(resolved) == numel(), "Tensor::view: cannot view ", str(), " (", numel(),
             " elements) as ", shape_str(shape));
  Tensor t = *this;
  t.shape_ = resolved;
  t.strides_ = contiguous_strides(resolved);
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  return is_contiguous() ? view(shape) : contiguous().view(shape);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> dims(static_cast<size_t>(dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_dim(a, dim(), "Tensor::transpose")],
            dims[normalize_dim(b, dim(), "Tensor::transpose")]);
  return permute(dims);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  HEED_CHECK(static_cast<int64_t>(dims.size()) == dim(), "Tensor::permute: ", dims.size(),
             " dimensions given for tensor ", str());
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_dim(dims[i], dim(), "Tensor::permute");
    HEED_CHECK(!seen[d], "Tensor::permute: dimension ", d, " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  int dd = normalize_dim(d, dim(), "Tensor::slice");
  HEED_CHECK(0 <= start && start <= end && end <= shape_[dd], "Tensor::slice: range [", start, ", ",
             end, ") out of bounds for dimension ", dd, " of ", str());
  Tensor t = *this;
  t.offset_ += start * strides_[dd];
  t.shape_[dd] = end - start;
  return t;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_);
  t.copy_(*this);
  return t;
}

Tensor& Tensor::fill_(float value) {
  HEED_CHECK(dtype_ == DType::F32, "Tensor::fill_: needs f32, got ", str());
  float* p = f32();
  for_each_offset(shape_, strides_, 0, [&](int64_t, int64_t o) { p[o] = value; });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  HEED_CHECK(src.shape_ == shape_ && src.dtype_ == dtype_, "Tensor::copy_: source ", src.str(),
             " does not match destination ", str());
  if (numel() == 0) return *this;
  if (is_contiguous() && src.is_contiguous()) {
    std::memmove(raw(), src.raw(), static_cast<size_t>(numel()) * dtype_size(dtype_));
    return *this;
  }
  strided_copy(src.raw(), src.strides_, raw(), strides_, shape_,
                        static_cast<int64_t>(dtype_size(dtype_)));
  return *this;
}

}  // namespace heed
