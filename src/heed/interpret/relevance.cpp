#include "heed/interpret/relevance.h"

#include <algorithm>

#include "heed/core/error.h"

namespace heed::interpret {

namespace {
void check_layer(const Tensor& a, const char* what) {
  HEED_CHECK(a.defined() && a.dtype() == DType::F32 && a.dim() == 3 && a.size(1) == a.size(2),
             what, ": attention must be f32 [heads, T, T], got ", a.defined() ? a.str() : "nothing");
}

// [T, T] row-major products are small (T <= a few hundred): plain loops in double, so the
// accumulated product over layers does not drift.
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t t) {
  std::vector<double> c(size_t(t * t), 0.0);
  for (int64_t i = 0; i < t; ++i)
    for (int64_t k = 0; k < t; ++k) {
      const double x = a[size_t(i * t + k)];
      if (x == 0.0) continue;
      for (int64_t j = 0; j < t; ++j) c[size_t(i * t + j)] += x * b[size_t(k * t + j)];
    }
  return c;
}

Tensor to_tensor(const std::vector<double>& m, int64_t t) {
  Tensor out = Tensor::empty({t, t});
  for (size_t i = 0; i < m.size(); ++i) out.f32()[i] = float(m[i]);
  return out;
}

std::vector<double> identity(int64_t t) {
  std::vector<double> m(size_t(t * t), 0.0);
  for (int64_t i = 0; i < t; ++i) m[size_t(i * t + i)] = 1.0;
  return m;
}

// mean over heads of f(a, g) for a layer, as doubles [T, T].
template <class F>
std::vector<double> mean_heads(const Tensor& a, const Tensor* g, F&& f) {
  const Tensor ac = a.contiguous();
  const Tensor gc = g ? g->contiguous() : Tensor();
  const int64_t h = a.size(0), tt = a.size(1) * a.size(2);
  std::vector<double> m(size_t(tt), 0.0);
  for (int64_t head = 0; head < h; ++head)
    for (int64_t x = 0; x < tt; ++x)
      m[size_t(x)] += f(double(ac.f32()[head * tt + x]), gc.defined() ? double(gc.f32()[head * tt + x]) : 0.0);
  for (double& v : m) v /= double(h);
  return m;
}
}  // namespace

Tensor head_mean(const Tensor& attention) {
  check_layer(attention, "head_mean");
  return to_tensor(mean_heads(attention, nullptr, [](double a, double) { return a; }), attention.size(1));
}

Tensor rollout(const std::vector<Tensor>& attention) {
  HEED_CHECK(!attention.empty(), "rollout: no layers");
  const int64_t t = attention[0].dim() == 3 ? attention[0].size(1) : 0;
  std::vector<double> r = identity(t);
  for (const Tensor& layer : attention) {
    check_layer(layer, "rollout");
    HEED_CHECK(layer.size(1) == t, "rollout: layers disagree on T (", layer.str(), " vs ", t, ")");
    std::vector<double> a = mean_heads(layer, nullptr, [](double x, double) { return x; });
    for (int64_t i = 0; i < t; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < t; ++j) {
        double& x = a[size_t(i * t + j)];
        x = 0.5 * x + (i == j ? 0.5 : 0.0);
        sum += x;
      }
      for (int64_t j = 0; j < t; ++j) a[size_t(i * t + j)] /= sum;  // sum >= 0.5
    }
    r = matmul(a, r, t);  // later layers on the left: R = A'_L ... A'_1
  }
  return to_tensor(r, t);
}

Tensor gradient_rollout(const std::vector<Tensor>& attention, const std::vector<Tensor>& gradients) {
  HEED_CHECK(!attention.empty(), "gradient_rollout: no layers");
  HEED_CHECK(attention.size() == gradients.size(), "gradient_rollout: ", attention.size(),
             " attention layers but ", gradients.size(), " gradients");
  const int64_t t = attention[0].dim() == 3 ? attention[0].size(1) : 0;
  std::vector<double> r = identity(t);
  for (size_t l = 0; l < attention.size(); ++l) {
    check_layer(attention[l], "gradient_rollout");
    HEED_CHECK(gradients[l].defined() && gradients[l].shape() == attention[l].shape() &&
                   attention[l].size(1) == t,
               "gradient_rollout: layer ", l, " gradient ",
               gradients[l].defined() ? gradients[l].str() : "missing", " does not match attention ",
               attention[l].str());
    const std::vector<double> a = mean_heads(attention[l], &gradients[l],
                                             [](double x, double g) { return std::max(0.0, x * g); });
    const std::vector<double> ar = matmul(a, r, t);
    for (size_t x = 0; x < r.size(); ++x) r[x] += ar[x];
  }
  return to_tensor(r, t);
}

std::vector<float> relevance_row(const Tensor& relevance, int64_t token, int64_t skip) {
  HEED_CHECK(relevance.dim() == 2 && token >= 0 && token < relevance.size(0), "relevance_row: token ",
             token, " outside ", relevance.str());
  const Tensor r = relevance.contiguous();
  std::vector<float> out;
  for (int64_t j = 0; j < r.size(1); ++j)
    if (j != skip) out.push_back(r.f32()[token * r.size(1) + j]);
  return out;
}

}  // namespace heed::interpret
