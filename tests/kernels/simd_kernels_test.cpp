// Every dispatched element-wise kernel against a double-precision reference computed here, at
// lengths that hit whole vectors, partial last vectors of every width (SSE4 4, AVX2 8, AVX-512
// 16 floats) and the parallel path. CTest runs this file (with the attention, op, golden and
// model suites) once per compiled SIMD target, HEED_SIMD=<target> (tests/CMakeLists.txt), so a
// target that computes something else fails here by name. The tolerances hold for every target.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "heed/core/rng.h"
#include "heed/kernels/cross_entropy.h"
#include "heed/kernels/elementwise.h"
#include "heed/kernels/layer_norm.h"
#include "heed/kernels/optimizer_update.h"
#include "heed/kernels/simd.h"
#include "heed/kernels/softmax.h"
#include "test_util.h"

namespace heed::kernels {
namespace {

using test::all_close;
constexpr float kInf = std::numeric_limits<float>::infinity();
const int64_t kLengths[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 100, 40000};

std::vector<float> random_vector(int64_t n, uint64_t seed, float scale = 3.f) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = scale * rng.normal();
  return x;
}

double gelu_ref(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
double gelu_grad_ref(double x) {
  return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}

TEST(SimdKernels, TargetIsTheRequestedOne) {
  // Names the target in the log and checks that HEED_SIMD (when CTest sets it) took effect.
  const char* want = std::getenv("HEED_SIMD");
  RecordProperty("simd_target", simd::chosen_target());
  if (want && *want) {
    std::string upper = want;
    for (char& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
    const std::vector<std::string> runs = simd::supported_targets();
    // A CPU without the requested target runs the best one below it.
    EXPECT_EQ(runs.front(), simd::chosen_target());
    EXPECT_TRUE(simd::chosen_target() == upper || runs.size() < simd::compiled_targets().size())
        << "asked for " << upper << ", running " << simd::chosen_target();
  }
  std::printf("SIMD target: %s\n", simd::chosen_target().c_str());
}

TEST(SimdKernels, GeluForwardBackward) {
  for (int64_t n : kLengths) {
    const std::vector<float> x = random_vector(n, 1), dy = random_vector(n, 2, 1.f);
    std::vector<float> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n), 0.5f), dx_set(static_cast<size_t>(n), 7.f);
    std::vector<double> y_ref(static_cast<size_t>(n)), dx_ref(static_cast<size_t>(n)), dx_set_ref(static_cast<size_t>(n));
    gelu_forward(x.data(), y.data(), n);
    gelu_backward(x.data(), dy.data(), dx.data(), n, true);
    gelu_backward(x.data(), dy.data(), dx_set.data(), n, false);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      y_ref[i] = gelu_ref(x[i]);
      dx_set_ref[i] = dy[i] * gelu_grad_ref(x[i]);
      dx_ref[i] = 0.5 + dx_set_ref[i];
    }
    // erf_approx is within 5e-7 of erf; |x| < 15 here, so gelu is within ~4e-6.
    EXPECT_TRUE(all_close(y, y_ref, 4e-6, 1e-6)) << "n=" << n;
    EXPECT_TRUE(all_close(dx, dx_ref, 4e-6, 1e-6)) << "n=" << n;
    EXPECT_TRUE(all_close(dx_set, dx_set_ref, 4e-6, 1e-6)) << "n=" << n;
  }
}

TEST(SimdKernels, TanhAndReluForwardBackward) {
  for (int64_t n : kLengths) {
    std::vector<float> x = random_vector(n, 3), dy = random_vector(n, 4, 1.f);
    x[0] = 100.f;  // saturates to exactly 1
    std::vector<float> y(static_cast<size_t>(n)), dx(static_cast<size_t>(n), 0.f), r(static_cast<size_t>(n)), dr(static_cast<size_t>(n), 1.f);
    std::vector<double> y_ref(static_cast<size_t>(n)), dx_ref(static_cast<size_t>(n)), r_ref(static_cast<size_t>(n)), dr_ref(static_cast<size_t>(n));
    tanh_forward(x.data(), y.data(), n);
    tanh_backward(y.data(), dy.data(), dx.data(), n);
    relu_forward(x.data(), r.data(), n);
    relu_backward(x.data(), dy.data(), dr.data(), n);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      y_ref[i] = std::tanh(double(x[i]));
      dx_ref[i] = dy[i] * (1.0 - double(y[i]) * y[i]);  // the backward uses the forward's output
      r_ref[i] = x[i] > 0 ? x[i] : 0;
      dr_ref[i] = 1.0 + (x[i] > 0 ? dy[i] : 0);
    }
    EXPECT_EQ(y[0], 1.f);
    EXPECT_TRUE(all_close(y, y_ref, 2e-7, 0)) << "n=" << n;
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-7, 1e-6)) << "n=" << n;
    EXPECT_TRUE(all_close(r, r_ref, 0, 0)) << "n=" << n;
    EXPECT_TRUE(all_close(dr, dr_ref, 0, 1e-7)) << "n=" << n;
  }
}

TEST(SimdKernels, AddScaleAndRowKernels) {
  for (int64_t n : kLengths) {
    const std::vector<float> a = random_vector(n, 5), b = random_vector(n, 6);
    std::vector<float> y(static_cast<size_t>(n)), m(static_cast<size_t>(n)), s(static_cast<size_t>(n)), acc = a, ax = a;
    std::vector<double> y_ref(static_cast<size_t>(n)), m_ref(static_cast<size_t>(n)), s_ref(static_cast<size_t>(n)), acc_ref(static_cast<size_t>(n)),
        ax_ref(static_cast<size_t>(n));
    add_scaled(a.data(), -1.f, b.data(), y.data(), n);
    mul(a.data(), b.data(), m.data(), n);
    scale(a.data(), 0.25f, s.data(), n);
    add_inplace(acc.data(), b.data(), n);
    axpy(1.5f, b.data(), ax.data(), n);
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      y_ref[i] = double(a[i]) - b[i];
      m_ref[i] = double(a[i]) * b[i];
      s_ref[i] = 0.25 * a[i];
      acc_ref[i] = double(a[i]) + b[i];
      ax_ref[i] = a[i] + 1.5 * b[i];
    }
    // One float rounding (or one fused rounding) from the exact value: 2^-24 relative, and the
    // same at the smallest values (|a| + |b| bounds the rounding of a sum).
    EXPECT_TRUE(all_close(y, y_ref, 1e-6, 1.2e-7)) << "n=" << n;
    EXPECT_TRUE(all_close(m, m_ref, 0, 1.2e-7)) << "n=" << n;
    EXPECT_TRUE(all_close(s, s_ref, 0, 0)) << "n=" << n;
    EXPECT_TRUE(all_close(acc, acc_ref, 1e-6, 1.2e-7)) << "n=" << n;
    EXPECT_TRUE(all_close(ax, ax_ref, 2e-6, 1.2e-7)) << "n=" << n;
  }
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{3, 5}, {17, 64}, {1000, 33}}) {
    const std::vector<float> a = random_vector(rows * cols, 7), row = random_vector(cols, 8);
    std::vector<float> y(size_t(rows * cols)), x = a;
    std::vector<float> wide(size_t(rows * (cols + 7)), 1.f);
    add_scaled_rows(a.data(), 2.f, row.data(), rows, cols, y.data());
    add_rows(row.data(), rows, cols, x.data());
    add_into_columns(a.data(), rows, cols, wide.data(), cols + 7, 3);
    std::vector<double> y_ref(y.size()), x_ref(x.size()), wide_ref(wide.size(), 1.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = size_t(r * cols + j);
        y_ref[i] = a[i] + 2.0 * row[size_t(j)];
        x_ref[i] = double(a[i]) + row[size_t(j)];
        wide_ref[size_t(r * (cols + 7) + 3 + j)] = 1.0 + a[i];
      }
    EXPECT_TRUE(all_close(y, y_ref, 2e-6, 1.2e-7)) << rows << "x" << cols;
    EXPECT_TRUE(all_close(x, x_ref, 1e-6, 1.2e-7)) << rows << "x" << cols;
    EXPECT_TRUE(all_close(wide, wide_ref, 1e-6, 1.2e-7)) << rows << "x" << cols;
  }
}

TEST(SimdKernels, SoftmaxAndLogSoftmaxWithMaskedEntriesAndRows) {
  for (int64_t cols : kLengths) {
    if (cols > 1000) continue;
    const int64_t rows = 3;
    std::vector<float> x = random_vector(rows * cols, 9);
    for (int64_t j = 0; j < cols; j += 3) x[size_t(j)] = -kInf;  // row 0: masked entries
    for (int64_t j = 0; j < cols; ++j) x[size_t(cols + j)] = -kInf;  // row 1: fully masked
    const std::vector<float> dy = random_vector(rows * cols, 10, 1.f);
    std::vector<float> y(x.size()), ly(x.size()), dx(x.size(), 0.f), ldx(x.size(), 0.f);
    softmax_forward(x.data(), y.data(), rows, cols);
    log_softmax_forward(x.data(), ly.data(), rows, cols);
    softmax_backward(y.data(), dy.data(), dx.data(), rows, cols);
    log_softmax_backward(ly.data(), dy.data(), ldx.data(), rows, cols);
    std::vector<double> y_ref(x.size(), 0.0), ly_ref(x.size(), -INFINITY), dx_ref(x.size(), 0.0),
        ldx_ref(x.size(), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      double m = -INFINITY, sum = 0, dot = 0, dsum = 0;
      for (int64_t j = 0; j < cols; ++j) m = std::max(m, double(xr[j]));
      if (m == -INFINITY) {  // fully masked: softmax 0 (zero gradient); log-softmax -inf,
        // whose backward treats lse as a constant like every other row: dx = dy
        for (int64_t j = 0; j < cols; ++j) ldx_ref[size_t(r * cols + j)] = dy[size_t(r * cols + j)];
        continue;
      }
      for (int64_t j = 0; j < cols; ++j) sum += std::exp(xr[j] - m);
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = size_t(r * cols + j);
        y_ref[i] = std::exp(xr[j] - m) / sum;
        ly_ref[i] = xr[j] - m - std::log(sum);
        dot += dy[i] * y_ref[i];
        dsum += dy[i];
      }
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = size_t(r * cols + j);
        dx_ref[i] = y_ref[i] * (dy[i] - dot);
        ldx_ref[i] = dy[i] - y_ref[i] * dsum;
      }
    }
    EXPECT_TRUE(all_close(y, y_ref, 1e-7, 1e-6)) << "cols=" << cols;
    EXPECT_TRUE(all_close(ly, ly_ref, 2e-6, 1e-6)) << "cols=" << cols;
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-6, 1e-5)) << "cols=" << cols;
    EXPECT_TRUE(all_close(ldx, ldx_ref, 1e-6, 1e-5)) << "cols=" << cols;
  }
}

TEST(SimdKernels, LayerNormForwardBackward) {
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {5, 7}, {3, 64}, {257, 96}, {9, 33}}) {
    std::vector<float> x = random_vector(rows * cols, 11);
    for (float& v : x) v += 100.f;  // a large mean: the two-pass variance must not cancel
    const std::vector<float> w = random_vector(cols, 12, 1.f), b = random_vector(cols, 13, 1.f);
    const std::vector<float> dy = random_vector(rows * cols, 14, 1.f);
    std::vector<float> y(x.size()), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows)), dx(x.size(), 0.f),
        dw(static_cast<size_t>(cols), 0.f), db(static_cast<size_t>(cols), 0.f);
    const float eps = 1e-5f;
    layer_norm_forward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), rows, cols, eps);
    layer_norm_backward(x.data(), w.data(), mean.data(), rstd.data(), dy.data(), dx.data(), dw.data(),
                        db.data(), rows, cols);
    std::vector<double> y_ref(x.size()), dx_ref(x.size()), dw_ref(static_cast<size_t>(cols), 0), db_ref(static_cast<size_t>(cols), 0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * cols;
      double mu = 0, var = 0;
      for (int64_t j = 0; j < cols; ++j) mu += xr[j];
      mu /= double(cols);
      for (int64_t j = 0; j < cols; ++j) var += (xr[j] - mu) * (xr[j] - mu);
      const double rs = 1 / std::sqrt(var / double(cols) + eps);
      double g_mean = 0, gx_mean = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = size_t(r * cols + j);
        const double xhat = (xr[j] - mu) * rs;
        y_ref[i] = xhat * w[size_t(j)] + b[size_t(j)];
        g_mean += dy[i] * w[size_t(j)];
        gx_mean += dy[i] * w[size_t(j)] * xhat;
        dw_ref[size_t(j)] += dy[i] * xhat;
        db_ref[size_t(j)] += dy[i];
      }
      g_mean /= double(cols);
      gx_mean /= double(cols);
      for (int64_t j = 0; j < cols; ++j) {
        const size_t i = size_t(r * cols + j);
        dx_ref[i] = rs * (dy[i] * w[size_t(j)] - g_mean - (xr[j] - mu) * rs * gx_mean);
      }
    }
    // The mean of inputs near 100 is stored in float (rounded by up to 3.8e-6), which reaches y
    // through rstd * w: measured worst 3.3e-6. dw sums 257 float products of size ~1: 2.2e-5.
    EXPECT_TRUE(all_close(y, y_ref, 5e-6, 1e-6)) << rows << "x" << cols;
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-5, 1e-5)) << rows << "x" << cols;
    EXPECT_TRUE(all_close(dw, dw_ref, 3e-5, 1e-5)) << rows << "x" << cols;
    EXPECT_TRUE(all_close(db, db_ref, 1e-5, 1e-6)) << rows << "x" << cols;
  }
}

TEST(SimdKernels, CrossEntropyWithSmoothingAndIgnoredRows) {
  for (int64_t classes : {2, 5, 10, 17, 1000}) {
    const int64_t rows = 6;
    const std::vector<float> x = random_vector(rows * classes, 15);
    std::vector<int64_t> t(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) t[size_t(r)] = r == 2 ? -100 : (r * 7) % classes;
    std::vector<float> lse(static_cast<size_t>(rows)), dx(x.size(), 0.25f);
    const float s = 0.1f, g = 2.f;
    const float loss = cross_entropy_forward(x.data(), t.data(), lse.data(), rows, classes, -100, s);
    cross_entropy_backward(x.data(), t.data(), lse.data(), g, dx.data(), rows, classes, -100, s);
    double loss_ref = 0;
    std::vector<double> dx_ref(x.size(), 0.25);
    for (int64_t r = 0; r < rows; ++r) {
      if (t[size_t(r)] == -100) continue;
      const float* xr = x.data() + r * classes;
      double m = -INFINITY, sum = 0, total = 0;
      for (int64_t c = 0; c < classes; ++c) m = std::max(m, double(xr[c]));
      for (int64_t c = 0; c < classes; ++c) sum += std::exp(xr[c] - m), total += xr[c];
      const double l = m + std::log(sum);
      loss_ref += (1 - s) * (l - xr[t[size_t(r)]]) + s * (l - total / double(classes));
      for (int64_t c = 0; c < classes; ++c)
        dx_ref[size_t(r * classes + c)] +=
            g / 5.0 * (std::exp(xr[c] - l) - s / double(classes) - (c == t[size_t(r)] ? 1 - s : 0));
    }
    loss_ref /= 5.0;  // five counted rows
    EXPECT_NEAR(loss, loss_ref, 1e-5 * std::abs(loss_ref)) << "classes=" << classes;
    EXPECT_TRUE(all_close(dx, dx_ref, 1e-6, 1e-5)) << "classes=" << classes;
  }
}

TEST(SimdKernels, OptimizerUpdatesAndGradientStatistics) {
  for (int64_t n : kLengths) {
    std::vector<float> p = random_vector(n, 16), g = random_vector(n, 17, 0.1f), m = random_vector(n, 18, 0.01f);
    std::vector<float> v(static_cast<size_t>(n));
    for (size_t i = 0; i < v.size(); ++i) v[i] = 1e-4f * float(i % 7 + 1);
    const AdamWCoefficients c{0.9999f, 0.9f, 0.1f, 0.999f, 0.001f, 0.0316f, 1e-8f, -0.01f};
    std::vector<double> p_ref(static_cast<size_t>(n)), m_ref(static_cast<size_t>(n)), v_ref(static_cast<size_t>(n));
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      m_ref[i] = double(m[i]) * c.beta1 + double(c.one_minus_beta1) * g[i];
      v_ref[i] = double(v[i]) * c.beta2 + double(c.one_minus_beta2) * g[i] * g[i];
      p_ref[i] = double(p[i]) * c.decay +
                 double(c.neg_step_size) * m_ref[i] / (std::sqrt(v_ref[i]) / c.bias_correction2_sqrt + c.eps);
    }
    adamw_update(p.data(), g.data(), m.data(), v.data(), n, c);
    // m's two terms (up to ~0.04) can cancel: without FMA (SSE4, SCALAR) each rounds by up to
    // 2.4e-9 on its own, so the bound is absolute there.
    EXPECT_TRUE(all_close(m, m_ref, 5e-9, 3e-7)) << "n=" << n;
    EXPECT_TRUE(all_close(v, v_ref, 1e-12, 3e-7)) << "n=" << n;
    EXPECT_TRUE(all_close(p, p_ref, 1e-7, 1e-6)) << "n=" << n;

    std::vector<float> q = random_vector(n, 19), buf = random_vector(n, 20, 0.1f), q2 = q, buf2 = buf;
    std::vector<double> q_ref(static_cast<size_t>(n)), b_ref(static_cast<size_t>(n)), q2_ref(static_cast<size_t>(n));
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      const double d = g[i] + 0.01 * q[i];
      b_ref[i] = buf[i] * 0.9 + d;
      q_ref[i] = q[i] - 0.1 * b_ref[i];
      q2_ref[i] = q[i] - 0.1 * (d + 0.9 * b_ref[i]);
    }
    sgd_momentum_update(q.data(), g.data(), buf.data(), n, 0.01f, 0.9f, -0.1f, false);
    sgd_momentum_update(q2.data(), g.data(), buf2.data(), n, 0.01f, 0.9f, -0.1f, true);
    EXPECT_TRUE(all_close(buf, b_ref, 1e-7, 1e-6)) << "n=" << n;
    EXPECT_TRUE(all_close(q, q_ref, 1e-6, 1e-6)) << "n=" << n;
    EXPECT_TRUE(all_close(q2, q2_ref, 1e-6, 1e-6)) << "n=" << n;

    double squares = 0;
    for (float x : g) squares += double(x) * x;
    EXPECT_NEAR(sum_of_squares(g.data(), n), squares, 1e-12 * squares) << "n=" << n;
    EXPECT_TRUE(all_finite(g.data(), n));
    for (float bad : {kInf, -kInf, std::numeric_limits<float>::quiet_NaN()}) {
      g[size_t(n - 1)] = bad;
      EXPECT_FALSE(all_finite(g.data(), n)) << "n=" << n << " with " << bad;
    }
  }
}

}  // namespace
}  // namespace heed::kernels
