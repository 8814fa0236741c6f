#include "heed/tasks/image_classification.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <numeric>

#include "heed/interpret/explain.h"
#include "heed/interpret/explanation_files.h"
#include "heed/interpret/faithfulness.h"
#include "heed/interpret/relevance.h"
#include "heed/core/parallel.h"
#include "heed/data/image_file.h"
#include "heed/metrics/ranking.h"
#include "heed/ops/ops.h"
#include "heed/tasks/classification.h"
#include "heed/train/config_json.h"
#include "heed/train/resources.h"

namespace heed::tasks {

using nlohmann::json;

// ---------------------------------------------------------------- configuration

}  // namespace heed::tasks

// The model section's fields, in nn's namespace so that train::read_section finds them.
namespace heed::nn {
template <class V>
void visit(V& v, VitConfig& m) {
  v("patch_size", m.patch_size, train::rule::positive());
  v("dim", m.dim, train::rule::positive());
  v("depth", m.depth, train::rule::positive());
  v("heads", m.heads, train::rule::positive());
  v("layer_heads", m.layer_heads, train::rule::omitted_when_empty(train::rule::at_least(1)));
  v("mlp_ratio", m.mlp_ratio, train::rule::positive());
  v("dropout", m.dropout, train::rule::in(0, 1, true));
  v("attention_dropout", m.attention_dropout, train::rule::in(0, 1, true));
  v("drop_path", m.drop_path, train::rule::in(0, 1, true));
  v("layer_norm_eps", m.layer_norm_eps, train::rule::positive());
  // "pre" | "post", held as a bool by the model.
  std::string norm = m.pre_norm ? "pre" : "post";
  v("norm", norm, train::rule::one_of({"pre", "post"}));
  m.pre_norm = norm == "pre";
  // Filled from the data; accepted so a resolved config (as checkpoints store it) reads back.
  v("image_height", m.image_height, train::rule::positive());
  v("image_width", m.image_width, train::rule::positive());
  v("channels", m.channels, train::rule::positive());
  v("num_classes", m.num_classes, train::rule::positive());
}
}  // namespace heed::nn

namespace heed::tasks {

template <class V>
void visit(V& v, ImageDataOptions& d) {
  v("dir", d.dir, train::rule::neutral(train::rule::non_empty()));
  v("validation_fraction", d.validation_fraction, train::rule::between(0, 1));
  v("crop_padding", d.crop_padding, train::rule::non_negative());
  v("horizontal_flip", d.horizontal_flip);
  v("eval_batch_size", d.eval_batch_size, train::rule::neutral(train::rule::positive()));
  v("class_names", d.class_names);
}

ImageClassifierConfig parse_config(const json& j) {
  ImageClassifierConfig c = train::read_task_config<ImageClassifierConfig>(j, kImageClassification);
  HEED_CHECK(c.train.batch_tokens == 0, "config: train.batch_tokens is for tasks over tokens; an image "
             "classifier's batches are train.batch_size images, got batch_tokens = ", c.train.batch_tokens);
  return c;
}

json to_json(const ImageClassifierConfig& c) {
  return {{"task", kImageClassification},
          {"model", train::section_json(c.model)},
          {"train", train::section_json(c.train)},
          {"data", train::section_json(c.data)}};
}

json resume_view(const ImageClassifierConfig& c) {
  return {{"task", kImageClassification},
          {"model", train::section_json(c.model, true)},
          {"train", train::section_json(c.train, true)},
          {"data", train::section_json(c.data, true)}};
}

// ---------------------------------------------------------------- checkpoints

namespace {
json normalization_json(const data::Normalization& n) {
  return {{"normalization", {{"mean", n.mean}, {"std", n.std}}}};
}
}  // namespace

void save_checkpoint(const std::string& path, nn::VisionTransformer& model, const CheckpointInfo& info,
                     const std::vector<std::pair<std::string, Tensor>>& optimizer_state) {
  train::CheckpointMeta meta{kImageClassification, model.type(), to_json(info.config), info.state,
                             normalization_json(info.normalization), {}};
  train::write_checkpoint(path, model, meta, optimizer_state);
}

CheckpointInfo checkpoint_info(const train::Checkpoint& ckpt) {
  const std::string& path = ckpt.path;
  HEED_CHECK(ckpt.meta.task == kImageClassification, path, ": a checkpoint of task '", ckpt.meta.task,
             "', not ", kImageClassification);
  CheckpointInfo info;
  try {
    info.config = parse_config(ckpt.meta.config);
    info.config.model.validate();
  } catch (const Error& e) {
    detail::fail(path, ": metadata ", e.what());
  }
  info.state = ckpt.meta.state;
  const json& extras = ckpt.meta.trainer_extras;
  try {
    const json& n = extras.at("normalization");
    info.normalization.mean = n.at("mean").get<std::vector<float>>();
    info.normalization.std = n.at("std").get<std::vector<float>>();
  } catch (const json::exception& e) {
    detail::fail(path, ": checkpoint metadata 'trainer' lacks a valid 'normalization': ", e.what());
  }
  HEED_CHECK(info.normalization.mean.size() == size_t(info.config.model.channels) &&
                 info.normalization.std.size() == size_t(info.config.model.channels),
             path, ": normalization must have one mean and std per channel");
  for (float v : info.normalization.std)
    HEED_CHECK(std::isfinite(v) && v > 0.f, path, ": normalization std must be positive, got ", v);
  return info;
}

LoadedModel load_model(const train::Checkpoint& ckpt) {
  LoadedModel out{nullptr, checkpoint_info(ckpt)};
  out.model = std::make_unique<nn::VisionTransformer>(out.info.config.model, 0);
  train::load_for_inference(*out.model, ckpt);
  return out;
}

LoadedModel load_model(const std::string& path) { return load_model(train::read_checkpoint(path)); }

// ---------------------------------------------------------------- data

ImageDataset::ImageDataset(const data::ImageSet& set, data::AugmentOptions aug)
    : images_(set.images.contiguous()), labels_(set.labels.contiguous()), aug_(aug) {
  HEED_CHECK(images_.defined() && images_.dtype() == DType::F32 && images_.dim() == 4,
             "images: expected f32 [N, C, H, W], got ", images_.defined() ? images_.str() : "undefined");
  HEED_CHECK(labels_.defined() && labels_.dtype() == DType::I64 && labels_.dim() == 1 &&
                 labels_.size(0) == images_.size(0),
             "images: expected i64 [", images_.size(0), "] labels, got ",
             labels_.defined() ? labels_.str() : "undefined");
  HEED_CHECK(aug.crop_padding >= 0, "images: crop_padding must be >= 0, got ", aug.crop_padding);
}

nn::Batch ImageDataset::batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const {
  const int64_t c = images_.size(1), h = images_.size(2), w = images_.size(3), image_size = c * h * w;
  const bool augment = context.training && (aug_.crop_padding > 0 || aug_.horizontal_flip);
  const int64_t count = int64_t(indices.size());
  nn::Batch out;
  out.indices = indices;
  Tensor images = Tensor::empty({count, c, h, w}), labels = Tensor::empty({count}, DType::I64);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = indices[size_t(i)];
    HEED_CHECK(index >= 0 && index < size(), "images: index ", index, " is outside the set of ", size());
    const float* src = images_.f32() + index * image_size;
    float* dst = images.f32() + i * image_size;
    if (augment) {
      const uint64_t key = uint64_t(context.epoch) * uint64_t(size()) + uint64_t(index);
      data::augment_image(src, dst, c, h, w, aug_, context.seed, key);
    } else {
      std::memcpy(dst, src, size_t(image_size) * sizeof(float));
    }
    labels.i64()[i] = labels_.i64()[index];
  }
  out.tensors["images"] = images;
  out.tensors["labels"] = labels;
  return out;
}

namespace {
std::vector<std::string> class_names_for(const ImageDataOptions& d, int64_t classes) {
  check_class_names(d.class_names, "data.class_names");
  if (!d.class_names.empty()) {
    HEED_CHECK(int64_t(d.class_names.size()) == classes, "config: data.class_names lists ",
               d.class_names.size(), " names but the data has ", classes, " classes");
    return d.class_names;
  }
  std::vector<std::string> names;
  for (int64_t i = 0; i < classes; ++i) names.push_back(std::to_string(i));
  return names;
}

// The test split that train_command evaluates after training, checked before it: same image
// shape, labels within the classes. Absent is allowed (then only validation figures).
void check_test_split(const ImageClassifierConfig& c) {
  if (!data::has_idx_split(c.data.dir, "t10k")) {
    std::fprintf(stderr, "no test split (t10k-*) in %s: only validation figures will be reported\n",
                 c.data.dir.c_str());
    return;
  }
  const data::ImageSet test = data::load_idx_split(c.data.dir, "t10k");
  HEED_CHECK(test.images.size(1) == c.model.channels && test.images.size(2) == c.model.image_height &&
                 test.images.size(3) == c.model.image_width,
             test.images_path, ": test images are ", test.images.size(1), "x", test.images.size(2), "x",
             test.images.size(3), " (channels x height x width), the training images ", c.model.channels, "x",
             c.model.image_height, "x", c.model.image_width, ": a different image size");
  data::check_labels(test, c.model.num_classes, false);
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  return v;
}
}  // namespace

train::EvalResult evaluate(nn::VisionTransformer& model, const Tensor& images, const Tensor& labels,
                           int64_t batch_size, const std::vector<std::string>& class_names, int replicas) {
  const ImageDataset data({images, labels, int64_t(class_names.size()), {}, {}}, {});
  const train::ShuffledBatches plan(all_indices(images.size(0)), batch_size, false, false, 0);
  const ClassificationTask task(kImageClassification, class_names, 0.f);
  return train::evaluate(model, task, data, plan, replicas);
}

// ---------------------------------------------------------------- training

train::TrainResult train_image_classifier(const ImageClassifierConfig& config_in, const std::string& out_dir,
                                          bool resume) {
  ImageClassifierConfig config = config_in;
  train::apply_threads(config.train);

  // Data: shape and classes come from the files (or the classes from data.class_names).
  data::ImageSet all = data::load_idx_split(config.data.dir, "train");
  config.model.channels = all.images.size(1);
  config.model.image_height = all.images.size(2);
  config.model.image_width = all.images.size(3);
  const bool named = !config.data.class_names.empty();
  config.model.num_classes = named ? int64_t(config.data.class_names.size()) : all.num_classes;
  data::check_labels(all, config.model.num_classes, !named);
  config.model.validate();
  const nn::VitConfig& m = config.model;
  train::check_training_memory({m.parameter_count(),
                                nn::encoder_activation_floats(config.train.batch_size, m.num_patches() + 1, m.dim,
                                                              m.depth, m.heads, m.mlp_hidden()),
                                train::replica_count(config.train)},
                               "model.dim, model.depth, model.patch_size, train.batch_size");
  config.data.class_names = class_names_for(config.data, config.model.num_classes);
  check_test_split(config);  // now, not after hours of training
  auto [train_idx, val_idx] =
      data::split_indices(all.images.size(0), config.data.validation_fraction, config.train.seed);
  // Statistics of the training split only.
  data::Normalization normalization;
  {
    const ImageDataset raw(all, {});
    normalization = data::compute_normalization(raw.batch(train_idx, {}).at("images"));
  }
  data::normalize_inplace(all.images, normalization);

  nn::VisionTransformer model(config.model, config.train.seed);
  const ClassificationTask task(kImageClassification, config.data.class_names, config.train.label_smoothing);
  const ImageDataset dataset(all, {config.data.crop_padding, config.data.horizontal_flip});
  const train::ShuffledBatches train_plan(train_idx, config.train.batch_size, true, true, config.train.seed);
  const train::ShuffledBatches val_plan(val_idx, config.data.eval_batch_size, false, false, 0);

  train::TrainSetup setup;
  setup.options = config.train;
  setup.model = &model;
  setup.task = &task;
  setup.train_data = &dataset;
  setup.train_plan = &train_plan;
  setup.validation_data = &dataset;
  setup.validation_plan = &val_plan;
  setup.meta = {kImageClassification, model.type(), to_json(config), {}, normalization_json(normalization), {}};
  setup.resume_view = [](const json& stored) { return resume_view(parse_config(stored)); };
  setup.out_dir = out_dir;
  setup.resume = resume;
  char summary[256];
  std::snprintf(summary, sizeof summary, "ViT: %ld parameters, %ldx%ldx%ld images, %ld classes; %zu train / %zu "
                "validation images", long(model.parameter_count()), long(config.model.channels),
                long(config.model.image_height), long(config.model.image_width),
                long(config.model.num_classes), train_idx.size(), val_idx.size());
  setup.summary = summary;

  return train::fit(setup);
}

// ---------------------------------------------------------------- commands

namespace {
bool is_idx(const std::string& path) {
  for (const std::string ext : {".gz", "-ubyte", ".idx"})
    if (path.size() >= ext.size() && path.compare(path.size() - ext.size(), std::string::npos, ext) == 0)
      return true;
  return false;
}
}  // namespace

Tensor load_inputs(const std::string& path, const nn::VitConfig& c) {
  std::vector<Tensor> images;
  if (is_idx(path)) {
    const Tensor all = data::read_idx_images(path);  // [N, C, H, W]
    for (int64_t i = 0; i < all.size(0); ++i)
      images.push_back(all.slice(0, i, i + 1).reshape({all.size(1), all.size(2), all.size(3)}).contiguous());
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

namespace {
int train_command(const TrainCommand& cmd) {
  const ImageClassifierConfig config = parse_train_config(cmd, [&](nlohmann::json json) {
    if (!cmd.data.empty()) json["data"]["dir"] = cmd.data;
    return parse_config(json);
  });
  const std::shared_ptr<train::RunDirectory> run = claim_run_directory(cmd);  // held for the run
  const train::TrainResult r = train_image_classifier(config, cmd.out, cmd.resume);
  if (r.interrupted) return 128 + r.signal;  // the shell's convention: 130 SIGINT, 143 SIGTERM
  std::printf("trained %ld epochs in %.1f s; best validation accuracy %.4f; checkpoints %s, %s\n",
              long(r.epochs_done), r.seconds, r.best_metric, r.best_path.c_str(), r.last_path.c_str());
  // The test split, when there is one, through the best checkpoint (as `heed eval` does).
  const std::string& dir = config.data.dir;
  namespace fs = std::filesystem;
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz") && !fs::exists(dir + "/t10k-images-idx3-ubyte")) return 0;
  LoadedModel m = load_model(r.best_path);
  data::ImageSet test = data::load_idx_split(dir, "t10k");
  data::normalize_inplace(test.images, m.info.normalization);
  const train::EvalResult e = evaluate(*m.model, test.images, test.labels, m.info.config.data.eval_batch_size,
                                       m.info.config.data.class_names);
  std::printf("Test set (%s, %ld images), model %s:\n\n%s", dir.c_str(), long(test.images.size(0)),
              r.best_path.c_str(), e.text.c_str());
  return 0;
}

// The IDX split `split` (default t10k) of `dir` (default: the trained-on directory), checked
// against the model and normalised as in training.
data::ImageSet load_eval_set(const LoadedModel& m, const std::string& checkpoint_path, const std::string& data,
                             const std::string& split_in) {
  const std::string dir = data.empty() ? m.info.config.data.dir : data;
  const std::string split = split_in.empty() ? "t10k" : split_in;
  data::ImageSet set = data::load_idx_split(dir, split);
  const nn::VitConfig& c = m.info.config.model;
  HEED_CHECK(set.images.size(1) == c.channels && set.images.size(2) == c.image_height &&
                 set.images.size(3) == c.image_width,
             dir, ": images are ", set.images.size(1), "x", set.images.size(2), "x", set.images.size(3), " but ",
             checkpoint_path, " was trained on ", c.channels, "x", c.image_height, "x", c.image_width);
  HEED_CHECK(set.num_classes <= c.num_classes, dir, ": labels reach class ", set.num_classes - 1,
             " but the model has ", c.num_classes, " classes");
  data::normalize_inplace(set.images, m.info.normalization);
  return set;
}

void eval_command(const EvalCommand& cmd) {
  LoadedModel m = load_model(cmd.checkpoint);
  const data::ImageSet set = load_eval_set(m, cmd.checkpoint.path, cmd.data, cmd.split);
  const train::EvalResult e = evaluate(*m.model, set.images, set.labels, m.info.config.data.eval_batch_size,
                                       m.info.config.data.class_names);
  if (cmd.json) {
    nlohmann::json out = e.json;
    out["checkpoint"] = cmd.checkpoint.path;
    out["images"] = set.images.size(0);
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s", e.text.c_str());
  }
}

void predict_command(const PredictCommand& cmd) {
  HEED_CHECK(!cmd.input.empty() && cmd.text.empty(), "predict: an image-classification model takes --input "
             "IMAGE (PGM, PPM, PNG) or an IDX image file, not --text");
  LoadedModel m = load_model(cmd.checkpoint);
  const nn::VitConfig& c = m.info.config.model;
  Tensor images = load_inputs(cmd.input, c);
  data::normalize_inplace(images, m.info.normalization);
  NoGradGuard no_grad;
  const Tensor probs = softmax(m.model->forward(Var(images))).value();
  const std::vector<std::string>& names = m.info.config.data.class_names;
  nlohmann::json out = nlohmann::json::array();
  const int64_t k = std::min(cmd.top_k, c.num_classes);
  for (int64_t i = 0; i < probs.size(0); ++i) {
    const float* p = probs.f32() + i * c.num_classes;
    const std::vector<int64_t> order = metrics::top_k(p, c.num_classes, k);
    nlohmann::json top = nlohmann::json::array();
    if (!cmd.json) std::printf("%s[%ld]:", cmd.input.c_str(), long(i));
    for (int64_t j = 0; j < k; ++j) {
      const int64_t cls = order[size_t(j)];
      const std::string name = size_t(cls) < names.size() ? names[size_t(cls)] : std::to_string(cls);
      top.push_back({{"class", cls}, {"name", name}, {"probability", p[cls]}});
      if (!cmd.json) std::printf("  %s %.4f", name.c_str(), double(p[cls]));
    }
    if (!cmd.json) std::printf("\n");
    out.push_back({{"index", i}, {"top", top}});
  }
  if (cmd.json) std::printf("%s\n", nlohmann::json{{"input", cmd.input}, {"predictions", out}}.dump(2).c_str());
}

// The subject of an explanation: token 0 is the class token, then the patches row by row.
interpret::ExplainSubject vit_subject(const std::string& input, const Tensor& image,
                                      const nn::VitConfig& c, const std::vector<std::string>& names) {
  interpret::ExplainSubject s;
  s.input = input;
  s.grid_rows = c.image_height / c.patch_size;
  s.grid_cols = c.image_width / c.patch_size;
  s.tokens.push_back("[CLS]");
  for (int64_t r = 0; r < s.grid_rows; ++r)
    for (int64_t q = 0; q < s.grid_cols; ++q)
      s.tokens.push_back("patch " + std::to_string(r) + "," + std::to_string(q));
  s.image = image;
  s.class_names = names;
  return s;
}

// Removes patches for the deletion test: a removed patch takes the training set's mean, which
// is 0 after normalisation. Row k of the result has the first k patches of `order` removed.
interpret::Ablation patch_ablation(const nn::VitConfig& c) {
  return [c](const nn::Batch& input, const std::vector<int64_t>& order) {
    const Tensor image = input.at("images").contiguous();  // [1, C, H, W], normalised
    const int64_t n = int64_t(order.size()), size = image.numel(), p = c.patch_size;
    const int64_t cols = c.image_width / p, plane = c.image_height * c.image_width;
    nn::Batch out;
    Tensor steps = Tensor::empty({n + 1, c.channels, c.image_height, c.image_width});
    for (int64_t k = 0; k <= n; ++k) {
      float* dst = steps.f32() + k * size;
      std::copy(image.f32(), image.f32() + size, dst);
      for (int64_t r = 0; r < k; ++r) {
        const int64_t y0 = order[size_t(r)] / cols * p, x0 = order[size_t(r)] % cols * p;
        for (int64_t ch = 0; ch < c.channels; ++ch)
          for (int64_t y = y0; y < y0 + p; ++y)
            std::fill_n(dst + ch * plane + y * c.image_width + x0, p, 0.f);
      }
    }
    out.tensors["images"] = steps;
    return out;
  };
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// heed explain --evaluate: the deletion test over the test split, each method against a random
// order, and what an explanation costs against a plain forward.
void explain_evaluate(const ExplainCommand& cmd, LoadedModel& m) {
  const nn::VitConfig& c = m.info.config.model;
  const std::string dir = cmd.data.empty() ? m.info.config.data.dir : cmd.data;
  data::ImageSet set = data::load_idx_split(dir, "t10k");
  HEED_CHECK(set.images.size(1) == c.channels && set.images.size(2) == c.image_height &&
                 set.images.size(3) == c.image_width,
             dir, ": images are ", set.images.size(1), "x", set.images.size(2), "x", set.images.size(3),
             " but ", cmd.checkpoint.path, " was trained on ", c.channels, "x", c.image_height, "x",
             c.image_width);
  HEED_CHECK(cmd.samples > 0, "explain: --n must be > 0");
  data::normalize_inplace(set.images, m.info.normalization);
  const int64_t n = std::min(cmd.samples, set.images.size(0));
  const interpret::Ablation ablate = patch_ablation(c);
  interpret::DeletionSummary summary;
  double plain_s = 0, rollout_s = 0, gradient_s = 0;
  for (int64_t i = 0; i < n; ++i) {
    nn::Batch one;
    one.tensors["images"] = set.images.slice(0, i, i + 1).contiguous();
    auto t = std::chrono::steady_clock::now();
    {
      NoGradGuard no_grad;
      (void)m.model->forward(one);
    }
    plain_s += seconds_since(t);
    t = std::chrono::steady_clock::now();
    (void)interpret::explain(*m.model, one, {.gradients = false});
    rollout_s += seconds_since(t);
    t = std::chrono::steady_clock::now();
    const interpret::Explanation e = interpret::explain(*m.model, one, {.layer = cmd.layer, .head = cmd.head});
    gradient_s += seconds_since(t);
    for (const char* method : interpret::kMethods) {
      const std::vector<float> r = interpret::relevance_row(interpret::relevance_of(e, method), 0, 0);
      summary.add(method, interpret::deletion_curve(*m.model, one, interpret::order_by_relevance(r),
                                                    e.predicted, ablate));
    }
    std::vector<int64_t> random(size_t(c.num_patches()));
    std::iota(random.begin(), random.end(), 0);
    random = train::shuffled(random, 0, i);  // seeded per image
    summary.add("random", interpret::deletion_curve(*m.model, one, random, e.predicted, ablate));
    ++summary.samples;
  }
  summary.finish();
  const double random_area = summary.area.at("random");
  std::printf("deletion test: %ld test images of %s, %ld patches each removed most relevant first "
              "(replaced by the training mean); area under the predicted class's probability:\n",
              long(n), dir.c_str(), long(c.num_patches()));
  std::printf("  %-18s %8s %10s\n", "method", "AUC", "vs random");
  std::string best;
  for (const char* method : interpret::kMethods) {
    const double a = summary.area.at(method);
    std::printf("  %-18s %8.4f %9.2fx\n", method, a, a / random_area);
    if (best.empty() || a < summary.area.at(best)) best = method;
  }
  std::printf("  %-18s %8.4f %9.2fx\n", "random", random_area, 1.0);
  std::printf("most faithful (lowest AUC): %s\n", best.c_str());
  std::printf("explaining one image: plain forward %.3f ms; attention + rollout %.3f ms (%.2fx); "
              "with gradient-weighted rollout %.3f ms (%.2fx)\n",
              1e3 * plain_s / double(n), 1e3 * rollout_s / double(n), rollout_s / plain_s,
              1e3 * gradient_s / double(n), gradient_s / plain_s);
}

void explain_command(const ExplainCommand& cmd) {
  LoadedModel m = load_model(cmd.checkpoint);
  if (cmd.evaluate) return explain_evaluate(cmd, m);
  HEED_CHECK(!cmd.input.empty() && cmd.text.empty(), "explain: an image-classification model takes "
             "--input IMAGE (PGM, PPM, PNG) or an IDX image file with --index, not --text");
  const nn::VitConfig& c = m.info.config.model;
  const Tensor all = load_inputs(cmd.input, c);  // [N, C, H, W] in [0, 1]
  HEED_CHECK(cmd.index >= 0 && cmd.index < all.size(0), "explain: --index ", cmd.index, " is outside ",
             cmd.input, "'s ", all.size(0), " image(s)");
  const Tensor raw = all.slice(0, cmd.index, cmd.index + 1).contiguous().clone();
  nn::Batch batch;
  batch.tensors["images"] = raw.clone();
  data::normalize_inplace(batch.tensors["images"], m.info.normalization);
  const interpret::Explanation e =
      interpret::explain(*m.model, batch, {.cls = cmd.cls, .layer = cmd.layer, .head = cmd.head});
  const Tensor image = raw.reshape({c.channels, c.image_height, c.image_width});
  interpret::write_explanation(cmd.out, e, vit_subject(cmd.input, image, c, m.info.config.data.class_names));
  const std::vector<std::string>& names = m.info.config.data.class_names;
  auto name = [&](int64_t k) { return size_t(k) < names.size() ? names[size_t(k)] : std::to_string(k); };
  std::printf("%s: predicted %s (%.4f); explanation in %s (overlay.png, heads.png, attention.json, "
              "relevance.json, index.html)\n",
              cmd.input.c_str(), name(e.predicted).c_str(), double(e.probabilities[size_t(e.predicted)]),
              cmd.out.c_str());
}
}  // namespace

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_model(checkpoint).model;
}

PruneSubject prune_subject(const train::Checkpoint& checkpoint, const std::string& data, const std::string& split) {
  LoadedModel m = load_model(checkpoint);
  // The splits as heed names them for images: the IDX prefixes.
  const std::string prefix = split == "train" ? "train" : split == "test" || split.empty() ? "t10k" : split;
  const data::ImageSet set = load_eval_set(m, checkpoint.path, data, prefix);
  PruneSubject s;
  s.data = std::make_unique<ImageDataset>(set, data::AugmentOptions{});
  s.plan = std::make_unique<train::ShuffledBatches>(all_indices(set.images.size(0)), m.info.config.data.eval_batch_size,
                                                    false, false, 0);
  s.task = std::make_unique<ClassificationTask>(kImageClassification, m.info.config.data.class_names, 0.f);
  s.model = std::move(m.model);
  return s;
}
}  // namespace

const TaskEntry& image_classification_entry() {
  static const TaskEntry entry{kImageClassification, "a Vision Transformer on IDX images (Fashion-MNIST layout)",
                               train_command, eval_command, predict_command, explain_command, false, false, module_of,
                               prune_subject};
  return entry;
}

}  // namespace heed::tasks
