// The exponential moving average of parameters (optim/parameter_average.h), against the
// recurrence computed in double here, and its state's errors.
#include "heed/optim/parameter_average.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace heed::optim {
namespace {

TEST(ParameterAverage, DecayWarmsUpLikeTensorFlow) {
  EXPECT_DOUBLE_EQ(ParameterAverage::decay_at(0.999, 1), 2.0 / 11.0);
  EXPECT_DOUBLE_EQ(ParameterAverage::decay_at(0.999, 90), 91.0 / 100.0);
  EXPECT_DOUBLE_EQ(ParameterAverage::decay_at(0.999, 100000), 0.999);
}

TEST(ParameterAverage, FollowsTheRecurrenceAndSwapsExactly) {
  Var a(Tensor::from_vector({3}, {1.0f, -2.0f, 0.5f}), true);
  std::vector<Param> params{{"a", &a, false}};
  ParameterAverage average(params, 0.9);
  std::vector<double> expected = {1.0, -2.0, 0.5};  // starts as the initial values
  for (int step = 1; step <= 30; ++step) {
    float* p = a.value().f32();
    for (int i = 0; i < 3; ++i) p[i] = float(std::sin(step + i) * 3.0);
    average.update(step);
    const double d = std::min(0.9, (1.0 + step) / (10.0 + step));
    for (int i = 0; i < 3; ++i) expected[size_t(i)] = d * expected[size_t(i)] + (1 - d) * double(p[i]);
  }
  const std::vector<float> live = a.value().to_vector();
  average.swap();
  const std::vector<float> swapped = a.value().to_vector();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(swapped[size_t(i)], expected[size_t(i)], 1e-5) << i;
  EXPECT_EQ(average.state("avg").at(0).first, "avg.a");
  EXPECT_EQ(average.state("avg").at(0).second.to_vector(), live);  // the buffers were exchanged
  average.swap();
  EXPECT_EQ(a.value().to_vector(), live);
}

TEST(ParameterAverage, StateErrorsNameTheKeyAndChangeNothing) {
  Var a(Tensor::from_vector({2}, {1.0f, 2.0f}), true);
  ParameterAverage average({{"a", &a, false}}, 0.5);
  try {
    average.load_state({}, "unaveraged");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unaveraged.a"), std::string::npos) << e.what();
  }
  const std::map<std::string, Tensor> bad{{"unaveraged.a", Tensor::from_vector({3}, {1, 2, 3})}};
  EXPECT_THROW(average.load_state(bad, "unaveraged"), Error);
  EXPECT_THROW(ParameterAverage({{"a", &a, false}}, 1.0), Error);
  EXPECT_EQ(average.state("x").at(0).second.to_vector(), (std::vector<float>{1.0f, 2.0f}));
}

}  // namespace
}  // namespace heed::optim
