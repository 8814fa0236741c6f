// Every op against PyTorch: tests/golden/ops/*.safetensors hold inputs, the output, a random
// projection r and the gradients of <out, r>, made by tools/make_golden.py (torch 1.13, fp32).
// The files are committed; this test needs no torch.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed {
namespace {

// fp32 on both sides; differences come from summation order and the kernels' exp/erf
// approximations (<= 5e-7 absolute). Measured worst over every op, every SIMD target and the
// -O1 sanitizer build: 1.43e-6 absolute (layer_norm's input gradient), values of order 1; a 1%
// error in any gradient is far outside this.
constexpr double kAtol = 3.5e-6, kRtol = 1e-6;

using Inputs = std::map<std::string, Var>;
using Attrs = std::map<std::string, std::string>;

std::vector<int64_t> parse_ints(const std::string& csv) {
  std::vector<int64_t> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t end = std::min(csv.find(',', start), csv.size());
    out.push_back(std::stoll(csv.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

// Maps the `op` metadata of a golden file onto heed's op, reading attributes from metadata.
Var run_op(const std::string& op, Inputs& in, const Attrs& attr, const io::SafetensorsFile& file) {
  auto f = [&](const char* key) { return std::stof(attr.at(key)); };
  auto i = [&](const char* key) { return std::stoll(attr.at(key)); };
  if (op == "matmul") return matmul(in["a"], in["b"]);
  if (op == "linear") return linear(in["x"], in["weight"], in.count("bias") ? in["bias"] : Var());
  if (op == "add") return add(in["a"], in["b"]);
  if (op == "sub") return sub(in["a"], in["b"]);
  if (op == "mul") return mul(in["a"], in["b"]);
  if (op == "scale") return scale(in["x"], f("scale"));
  if (op == "gelu") return gelu(in["x"]);
  if (op == "relu") return relu(in["x"]);
  if (op == "tanh") return tanh(in["x"]);
  if (op == "softmax") return softmax(in["x"]);
  if (op == "log_softmax") return log_softmax(in["x"]);
  if (op == "layer_norm") return layer_norm(in["x"], in["weight"], in["bias"], f("eps"));
  if (op == "embedding") return embedding(file.get("ids"), in["weight"]);
  if (op == "cross_entropy") {
    CrossEntropyOptions o{i("ignore_index"), f("label_smoothing"), Tensor()};
    if (attr.count("weight")) {  // "0.5,2,1": class weights
      std::vector<float> w;
      std::stringstream list(attr.at("weight"));
      for (std::string item; std::getline(list, item, ',');) w.push_back(std::stof(item));
      o.weight = Tensor::from_vector({int64_t(w.size())}, w);
    }
    return cross_entropy(in["logits"], file.get("targets"), o);
  }
  if (op == "sum") return sum(in["x"]);
  if (op == "mean") return mean(in["x"]);
  if (op == "sum_dim") return sum(in["x"], i("dim"), i("keepdim") != 0);
  if (op == "mean_dim") return mean(in["x"], i("dim"), i("keepdim") != 0);
  if (op == "permute") return permute(in["x"], parse_ints(attr.at("dims")));
  if (op == "concat") return concat({in["a"], in["b"]}, i("dim"));
  if (op == "slice") return slice(in["x"], i("dim"), i("start"), i("end"));
  if (op == "reshape") return reshape(in["x"], parse_ints(attr.at("shape")));
  if (op == "patchify") return patchify(in["x"], i("patch"));
  ADD_FAILURE() << "golden file for unknown op " << op;
  return Var();
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  test::report_errors(what, g, w);
  EXPECT_TRUE(test::all_close(g, w, kAtol, kRtol)) << what << " against PyTorch";
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, MatchesPyTorch) {
  const io::SafetensorsFile file = io::read_safetensors(GetParam());
  const std::string op = file.metadata.at("op");
  Inputs in;
  for (const auto& [name, t] : file.tensors) {
    if (name == "out" || name == "proj" || name.rfind("grad.", 0) == 0 || t.dtype() != DType::F32)
      continue;
    in[name] = Var(t, file.contains("grad." + name));
  }
  Var out = run_op(op, in, file.metadata, file);
  expect_close(out.value(), file.get("out"), op + " output");
  out.backward(file.get("proj"));
  int grads = 0;
  for (auto& [name, var] : in) {
    if (!var.requires_grad()) continue;
    expect_close(var.grad(), file.get("grad." + name), op + " gradient of " + name);
    ++grads;
  }
  EXPECT_GT(grads, 0);
}

std::vector<std::string> golden_files() {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(HEED_GOLDEN_DIR "/ops"))
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

INSTANTIATE_TEST_SUITE_P(Ops, Golden, ::testing::ValuesIn(golden_files()),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return std::filesystem::path(param.param).stem().string();
                         });

TEST(GoldenFiles, EveryOpHasOne) {
  EXPECT_GE(golden_files().size(), 27u);
}

}  // namespace
}  // namespace heed
