// heed predict: top-k classes for an image (PGM or PNG) or every image of an IDX file.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "commands.h"
#include "heed/autograd/variable.h"
#include "heed/data/idx.h"
#include "heed/data/image_file.h"
#include "heed/ops/ops.h"
#include "heed/train/image_classifier.h"

namespace heed::cli {

namespace {
bool is_idx(const std::string& path) {
  for (const char* ext : {".gz", "-ubyte", ".idx"})
    if (path.size() >= std::string(ext).size() &&
        path.compare(path.size() - std::string(ext).size(), std::string::npos, ext) == 0)
      return true;
  return false;
}

// Images [N, C, H, W] shaped for the model: grey/colour converted, resized when needed.
Tensor load_inputs(const std::string& path, const nn::VitConfig& c) {
  std::vector<Tensor> images;
  if (is_idx(path)) {
    data::IdxArray idx = data::read_idx(path);
    HEED_CHECK(idx.dims.size() == 3, path, ": expected an IDX image file [N, H, W], got ",
               idx.dims.size(), " dimensions");
    const int64_t n = idx.dims[0], h = idx.dims[1], w = idx.dims[2];
    for (int64_t i = 0; i < n; ++i) {
      Tensor img = Tensor::empty({1, h, w});
      for (int64_t p = 0; p < h * w; ++p) img.f32()[p] = float(idx.data[size_t(i * h * w + p)]) / 255.f;
      images.push_back(img);
    }
  } else {
    images.push_back(data::read_image(path));
  }
  Tensor batch = Tensor::empty({int64_t(images.size()), c.channels, c.image_height, c.image_width});
  for (size_t i = 0; i < images.size(); ++i) {
    Tensor img = images[i];
    if (img.size(0) != c.channels) {
      HEED_CHECK(c.channels == 1, path, ": the model needs ", c.channels, " channels, the image has ",
                 img.size(0));
      img = data::to_grayscale(img);
    }
    if (img.size(1) != c.image_height || img.size(2) != c.image_width)
      img = data::resize_bilinear(img, c.image_height, c.image_width);
    batch.slice(0, int64_t(i), int64_t(i) + 1).copy_(img.reshape({1, c.channels, c.image_height, c.image_width}));
  }
  return batch;
}
}  // namespace

void register_predict(CLI::App& app) {
  static std::string checkpoint, input;
  static int64_t top_k = 3;
  static bool json = false;
  auto* cmd = app.add_subcommand("predict", "Classify images: IDX, PGM or PNG");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--input", input, "image file (PGM/PNG) or IDX image file")->required();
  cmd->add_option("--top-k", top_k, "classes to list per image")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", json, "print JSON");
  cmd->callback([] {
    train::LoadedModel m = train::load_model(checkpoint);
    const nn::VitConfig& c = m.info.config.model;
    Tensor images = load_inputs(input, c);
    data::normalize_inplace(images, m.info.normalization);
    NoGradGuard no_grad;
    const Tensor probs = softmax(m.model->forward(Var(images))).value();
    const std::vector<std::string>& names = m.info.config.data.class_names;
    nlohmann::json out = nlohmann::json::array();
    const int64_t k = std::min(top_k, c.num_classes);
    for (int64_t i = 0; i < probs.size(0); ++i) {
      const float* p = probs.f32() + i * c.num_classes;
      std::vector<int64_t> order(size_t(c.num_classes));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [p](int64_t a, int64_t b) { return p[a] > p[b]; });
      nlohmann::json top = nlohmann::json::array();
      if (!json) std::printf("%s[%ld]:", input.c_str(), long(i));
      for (int64_t j = 0; j < k; ++j) {
        const int64_t cls = order[size_t(j)];
        const std::string name = size_t(cls) < names.size() ? names[size_t(cls)] : std::to_string(cls);
        top.push_back({{"class", cls}, {"name", name}, {"probability", p[cls]}});
        if (!json) std::printf("  %s %.4f", name.c_str(), double(p[cls]));
      }
      if (!json) std::printf("\n");
      out.push_back({{"index", i}, {"top", top}});
    }
    if (json) std::printf("%s\n", nlohmann::json{{"input", input}, {"predictions", out}}.dump(2).c_str());
  });
}

}  // namespace heed::cli
