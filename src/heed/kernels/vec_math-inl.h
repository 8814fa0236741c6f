// Vector exp, erf and tanh for every SIMD target, and a loop helper for element-wise kernels.
// The same range reduction and polynomials as the scalar forms in fast_math.h (errors: exp
// < 2.5e-7 relative, erf < 5e-7 and tanh < 2e-7 absolute; exp(-inf) = 0), so a kernel's tail
// and its body agree. Written as explicit vectors rather than left to the auto-vectoriser: GCC
// vectorises the scalar forms' branches with AVX-512 masks but leaves them scalar for AVX2.
//
// A Highway "-inl.h": included once per target by files that use foreach_target.h, with its
// include guard toggled per target (the idiom of hwy/contrib/*-inl.h).
#if defined(HEED_KERNELS_VEC_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef HEED_KERNELS_VEC_MATH_INL_H_
#undef HEED_KERNELS_VEC_MATH_INL_H_
#else
#define HEED_KERNELS_VEC_MATH_INL_H_
#endif

#include <hwy/highway.h>

#include <algorithm>
#include <cstdint>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V = hn::Vec<D>>
HWY_INLINE V Exp(D d, V x) {
  const hn::RebindToSigned<D> di;
  const V lo = hn::Set(d, -87.3f), hi = hn::Set(d, 88.7f);
  const V xc = hn::Min(hn::Max(x, lo), hi);
  const V n = hn::Round(hn::Mul(xc, hn::Set(d, 1.44269504f)));
  V r = hn::NegMulAdd(n, hn::Set(d, 0.693359375f), xc);
  r = hn::MulAdd(n, hn::Set(d, 2.12194440e-4f), r);
  V p = hn::Set(d, 1.9875691500e-4f);
  p = hn::MulAdd(p, r, hn::Set(d, 1.3981999507e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 8.3334519073e-3f));
  p = hn::MulAdd(p, r, hn::Set(d, 4.1665795894e-2f));
  p = hn::MulAdd(p, r, hn::Set(d, 1.6666665459e-1f));
  p = hn::MulAdd(p, r, hn::Set(d, 5.0000001201e-1f));
  p = hn::MulAdd(hn::Mul(p, r), r, hn::Add(r, hn::Set(d, 1.0f)));
  const auto bits = hn::ShiftLeft<23>(hn::Add(hn::ConvertTo(di, n), hn::Set(di, 127)));
  V result = hn::Mul(p, hn::BitCast(d, bits));
  result = hn::IfThenZeroElse(hn::Lt(x, lo), result);
  return hn::IfThenElse(hn::Gt(x, hi), hn::Set(d, std::numeric_limits<float>::infinity()), result);
}

// Abramowitz & Stegun 7.1.26, odd extension for x < 0.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Erf(D d, V x) {
  const V ax = hn::Abs(x);
  const V t = hn::Div(hn::Set(d, 1.0f), hn::MulAdd(hn::Set(d, 0.3275911f), ax, hn::Set(d, 1.0f)));
  V y = hn::Set(d, 1.061405429f);
  y = hn::MulAdd(y, t, hn::Set(d, -1.453152027f));
  y = hn::MulAdd(y, t, hn::Set(d, 1.421413741f));
  y = hn::MulAdd(y, t, hn::Set(d, -0.284496736f));
  y = hn::MulAdd(y, t, hn::Set(d, 0.254829592f));
  y = hn::NegMulAdd(hn::Mul(y, t), Exp(d, hn::Neg(hn::Mul(ax, ax))), hn::Set(d, 1.0f));
  return hn::CopySignToAbs(y, x);
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): no overflow for any x.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Tanh(D d, V x) {
  const V e = Exp(d, hn::Mul(hn::Set(d, -2.0f), hn::Abs(x)));
  const V one = hn::Set(d, 1.0f);
  return hn::CopySignToAbs(hn::Div(hn::Sub(one, e), hn::Add(one, e)), x);
}

// Loads and stores of the first `count` < lanes floats through a zero-padded copy, so a loop's
// last, partial vector touches nothing past the end on any target.
template <class D>
HWY_INLINE hn::Vec<D> LoadPart(D d, const float* p, int64_t count, float pad = 0.f) {
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  std::fill(buffer, buffer + hn::Lanes(d), pad);
  std::copy(p, p + count, buffer);
  return hn::Load(d, buffer);
}
template <class D>
HWY_INLINE void StorePart(D d, hn::Vec<D> v, float* p, int64_t count) {
  HWY_ALIGN float buffer[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buffer);
  std::copy(buffer, buffer + count, p);
}

// y[i] = f(d, x[i]) for i < n (whole vectors, then one partial one); y may equal x.
template <class F>
HWY_INLINE void Map(const float* x, float* y, int64_t n, F&& f) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) hn::StoreU(f(d, hn::LoadU(d, x + i)), d, y + i);
  if (i < n) StorePart(d, f(d, LoadPart(d, x + i, n - i)), y + i, n - i);
}

// y[i] = f(d, a[i], b[i], y[i]) for i < n.
template <class F>
HWY_INLINE void Map2Acc(const float* a, const float* b, float* y, int64_t n, F&& f) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(f(d, hn::LoadU(d, a + i), hn::LoadU(d, b + i), hn::LoadU(d, y + i)), d, y + i);
  if (i < n) {
    const int64_t rest = n - i;
    StorePart(d, f(d, LoadPart(d, a + i, rest), LoadPart(d, b + i, rest), LoadPart(d, y + i, rest)),
              y + i, rest);
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // HEED_KERNELS_VEC_MATH_INL_H_
