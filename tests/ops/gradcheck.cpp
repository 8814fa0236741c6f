#include "ops/gradcheck.h"

#include <cmath>
#include <sstream>

#include "heed/core/rng.h"

namespace heed::testing {

namespace {
double project(const Tensor& y, const Tensor& r) {
  const std::vector<float> yv = y.to_vector(), rv = r.to_vector();
  double s = 0;
  for (size_t i = 0; i < yv.size(); ++i) s += double(yv[i]) * double(rv[i]);
  return s;
}
}  // namespace

std::string check_gradients(const OpFn& op, const std::vector<Tensor>& inputs,
                            const std::vector<bool>& differentiable,
                            const GradCheckOptions& options) {
  Rng rng(options.seed);
  std::vector<Tensor> base;  // contiguous copies, so elements can be addressed by flat index
  for (const Tensor& t : inputs) base.push_back(t.contiguous().clone());
  std::vector<Var> vars;
  for (size_t i = 0; i < inputs.size(); ++i)
    vars.emplace_back(base[i].clone(), differentiable[i]);
  Var y = op(vars);
  const Tensor r = Tensor::randn(y.shape(), rng);
  std::vector<Tensor> sentinels(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!differentiable[i]) continue;
    sentinels[i] = Tensor::uniform(inputs[i].shape(), rng, -1.f, 1.f);
    vars[i].grad() = sentinels[i].clone();
  }
  y.backward(r);

  std::ostringstream report;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!differentiable[i]) continue;
    const std::vector<float> grad = vars[i].grad().to_vector(), sent = sentinels[i].to_vector();
    double max_abs = 0, max_rel = 0;
    int64_t bad = -1;
    double bad_analytic = 0, bad_numeric = 0;
    for (int64_t j = 0; j < inputs[i].numel(); ++j) {
      auto eval = [&](double delta) {
        NoGradGuard no_grad;
        std::vector<Var> shifted;
        for (size_t k = 0; k < inputs.size(); ++k) {
          Tensor t = base[k].clone();
          if (k == i) t.f32()[j] = static_cast<float>(double(t.f32()[j]) + delta);
          shifted.emplace_back(t);
        }
        return project(op(shifted).value(), r);
      };
      // The step actually applied in float, so the quotient divides by the true difference.
      const float x0 = base[i].f32()[j];
      const double up = double(static_cast<float>(x0 + options.eps)) - x0;
      const double down = x0 - double(static_cast<float>(x0 - options.eps));
      const double numeric = (eval(up) - eval(-down)) / (up + down);
      const double analytic = double(grad[size_t(j)]) - double(sent[size_t(j)]);
      const double err = std::abs(analytic - numeric);
      if (!std::isnan(err)) {
        max_abs = std::max(max_abs, err);
        max_rel = std::max(max_rel, err / std::max(std::abs(numeric), 1e-6));
      }
      // Written as !(err <= tol) so that a NaN (analytic or numeric) is a mismatch.
      if (!(err <= options.atol + options.rtol * std::abs(numeric)) && bad < 0) {
        bad = j;
        bad_analytic = analytic;
        bad_numeric = numeric;
      }
    }
    if (bad >= 0)
      report << "input " << i << " " << inputs[i].str() << ": max abs error " << max_abs
             << ", max rel error " << max_rel << "; first mismatch at element " << bad
             << ": analytic " << bad_analytic << " vs numeric " << bad_numeric << "\n";
  }
  return report.str();
}

}  // namespace heed::testing
