#include "heed/train/image_classifier.h"

#include <atomic>
#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "heed/core/parallel.h"
#include "heed/io/json_limits.h"
#include "heed/io/safetensors.h"
#include "heed/ops/ops.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"
#include "heed/optim/schedule.h"
#include "heed/optim/sgd.h"
#include "heed/train/config_json.h"
#include "heed/train/data_parallel.h"
#include "heed/train/progress.h"

namespace heed::train {

using nlohmann::json;

// ---------------------------------------------------------------- configuration

ImageClassifierConfig parse_config(const json& j) {
  ImageClassifierConfig c;
  Section top(j, "");
  Section m = top.child("model");
  nn::VitConfig& v = c.model;
  v.patch_size = m.get<int64_t>("patch_size", v.patch_size);
  v.dim = m.get<int64_t>("dim", v.dim);
  v.depth = m.get<int64_t>("depth", v.depth);
  v.heads = m.get<int64_t>("heads", v.heads);
  v.mlp_ratio = m.get<double>("mlp_ratio", v.mlp_ratio);
  v.dropout = m.get<float>("dropout", v.dropout);
  v.attention_dropout = m.get<float>("attention_dropout", v.attention_dropout);
  v.drop_path = m.get<float>("drop_path", v.drop_path);
  v.layer_norm_eps = m.get<float>("layer_norm_eps", v.layer_norm_eps);
  const std::string norm = m.get<std::string>("norm", "pre");
  HEED_CHECK(norm == "pre" || norm == "post", "config: model.norm must be \"pre\" or \"post\", got \"",
             norm, "\"");
  v.pre_norm = norm == "pre";
  // Filled from the data; accepted so a resolved config (as saved in checkpoints) reads back.
  v.image_height = m.get<int64_t>("image_height", v.image_height);
  v.image_width = m.get<int64_t>("image_width", v.image_width);
  v.channels = m.get<int64_t>("channels", v.channels);
  v.num_classes = m.get<int64_t>("num_classes", v.num_classes);
  m.finish();

  Section t = top.child("train");
  TrainOptions& o = c.train;
  o.epochs = t.get<int64_t>("epochs", o.epochs);
  o.batch_size = t.get<int64_t>("batch_size", o.batch_size);
  o.optimizer = t.get<std::string>("optimizer", o.optimizer);
  o.lr = t.get<float>("lr", o.lr);
  o.min_lr = t.get<float>("min_lr", o.min_lr);
  o.weight_decay = t.get<double>("weight_decay", o.weight_decay);
  o.beta1 = t.get<double>("beta1", o.beta1);
  o.beta2 = t.get<double>("beta2", o.beta2);
  o.momentum = t.get<double>("momentum", o.momentum);
  o.schedule = t.get<std::string>("schedule", o.schedule);
  o.warmup_epochs = t.get<double>("warmup_epochs", o.warmup_epochs);
  o.label_smoothing = t.get<float>("label_smoothing", o.label_smoothing);
  o.clip_grad_norm = t.get<float>("clip_grad_norm", o.clip_grad_norm);
  o.seed = t.get<uint64_t>("seed", o.seed);
  o.threads = t.get<int>("threads", o.threads);
  o.replicas = t.get<int>("replicas", o.replicas);
  o.log_every = t.get<int64_t>("log_every", o.log_every);
  o.time_limit_minutes = t.get<double>("time_limit_minutes", o.time_limit_minutes);
  t.finish();
  HEED_CHECK(o.epochs > 0, "config: train.epochs must be > 0, got ", o.epochs);
  HEED_CHECK(o.batch_size > 0, "config: train.batch_size must be > 0, got ", o.batch_size);
  HEED_CHECK(o.optimizer == "adamw" || o.optimizer == "sgd",
             "config: train.optimizer must be \"adamw\" or \"sgd\", got \"", o.optimizer, "\"");
  HEED_CHECK(o.lr > 0, "config: train.lr must be > 0, got ", o.lr);
  HEED_CHECK(o.min_lr >= 0 && o.min_lr <= o.lr, "config: train.min_lr must be in [0, lr], got ", o.min_lr);
  HEED_CHECK(o.schedule == "cosine" || o.schedule == "linear" || o.schedule == "constant",
             "config: train.schedule must be cosine, linear or constant, got \"", o.schedule, "\"");
  HEED_CHECK(o.warmup_epochs >= 0 && o.warmup_epochs <= double(o.epochs),
             "config: train.warmup_epochs must be in [0, epochs], got ", o.warmup_epochs);
  HEED_CHECK(o.label_smoothing >= 0 && o.label_smoothing < 1,
             "config: train.label_smoothing must be in [0, 1), got ", o.label_smoothing);
  HEED_CHECK(o.clip_grad_norm >= 0, "config: train.clip_grad_norm must be >= 0, got ", o.clip_grad_norm);
  HEED_CHECK(o.threads >= 0, "config: train.threads must be >= 0, got ", o.threads);
  HEED_CHECK(o.replicas >= 0, "config: train.replicas must be >= 0, got ", o.replicas);
  HEED_CHECK(o.log_every > 0, "config: train.log_every must be > 0, got ", o.log_every);

  Section d = top.child("data");
  DataOptions& dd = c.data;
  dd.validation_fraction = d.get<double>("validation_fraction", dd.validation_fraction);
  dd.crop_padding = d.get<int64_t>("crop_padding", dd.crop_padding);
  dd.horizontal_flip = d.get<bool>("horizontal_flip", dd.horizontal_flip);
  dd.eval_batch_size = d.get<int64_t>("eval_batch_size", dd.eval_batch_size);
  if (const json* names = d.raw("class_names")) {
    HEED_CHECK(names->is_array(), "config: data.class_names must be an array of strings");
    for (const json& n : *names) {
      HEED_CHECK(n.is_string(), "config: data.class_names must hold strings, got ", n.dump());
      dd.class_names.push_back(n.get<std::string>());
    }
  }
  d.finish();
  HEED_CHECK(dd.validation_fraction > 0 && dd.validation_fraction < 1,
             "config: data.validation_fraction must be in (0, 1), got ", dd.validation_fraction);
  HEED_CHECK(dd.crop_padding >= 0, "config: data.crop_padding must be >= 0, got ", dd.crop_padding);
  HEED_CHECK(dd.eval_batch_size > 0, "config: data.eval_batch_size must be > 0, got ", dd.eval_batch_size);
  top.finish();
  return c;
}

json to_json(const ImageClassifierConfig& c) {
  const nn::VitConfig& v = c.model;
  const TrainOptions& o = c.train;
  const DataOptions& d = c.data;
  return {{"model",
           {{"patch_size", v.patch_size}, {"dim", v.dim}, {"depth", v.depth}, {"heads", v.heads},
            {"mlp_ratio", v.mlp_ratio}, {"dropout", v.dropout}, {"attention_dropout", v.attention_dropout},
            {"drop_path", v.drop_path}, {"layer_norm_eps", v.layer_norm_eps},
            {"norm", v.pre_norm ? "pre" : "post"}, {"image_height", v.image_height},
            {"image_width", v.image_width}, {"channels", v.channels}, {"num_classes", v.num_classes}}},
          {"train",
           {{"epochs", o.epochs}, {"batch_size", o.batch_size}, {"optimizer", o.optimizer},
            {"lr", o.lr}, {"min_lr", o.min_lr}, {"weight_decay", o.weight_decay}, {"beta1", o.beta1},
            {"beta2", o.beta2}, {"momentum", o.momentum}, {"schedule", o.schedule},
            {"warmup_epochs", o.warmup_epochs}, {"label_smoothing", o.label_smoothing},
            {"clip_grad_norm", o.clip_grad_norm}, {"seed", o.seed}, {"threads", o.threads},
            {"replicas", o.replicas},
            {"log_every", o.log_every}, {"time_limit_minutes", o.time_limit_minutes}}},
          {"data",
           {{"validation_fraction", d.validation_fraction}, {"crop_padding", d.crop_padding},
            {"horizontal_flip", d.horizontal_flip}, {"eval_batch_size", d.eval_batch_size},
            {"class_names", d.class_names}}}};
}

// ---------------------------------------------------------------- checkpoints

namespace {
constexpr const char* kFormat = "heed-checkpoint-1";
constexpr const char* kOptimizerPrefix = "optimizer.";

json info_json(const CheckpointInfo& info) {
  return {{"epoch", info.epoch},
          {"batch", info.batch},
          {"global_step", info.global_step},
          {"best_val_accuracy", info.best_val_accuracy},
          {"seed_state", {info.seed_state.first, info.seed_state.second}},
          {"normalization", {{"mean", info.normalization.mean}, {"std", info.normalization.std}}}};
}

template <class T>
T field(const json& j, const char* key, const std::string& path) {
  HEED_CHECK(j.contains(key), path, ": checkpoint metadata lacks '", key, "'");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    detail::fail(path, ": checkpoint metadata '", key, "' has the wrong type: ", e.what());
  }
}
}  // namespace

void save_checkpoint(const std::string& path, nn::VisionTransformer& model, const CheckpointInfo& info,
                     const std::vector<std::pair<std::string, Tensor>>& optimizer_state) {
  std::vector<std::pair<std::string, Tensor>> tensors = model.state_dict();
  for (const auto& [name, t] : optimizer_state) tensors.emplace_back(kOptimizerPrefix + name, t);
  std::map<std::string, std::string> meta{{"format", kFormat},
                                          {"task", "image-classification"},
                                          {"model", "vit"},
                                          {"config", to_json(info.config).dump()},
                                          {"trainer", info_json(info).dump()}};
  io::write_safetensors(path, tensors, meta);
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  io::SafetensorsFile file = io::read_safetensors(path);
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    HEED_CHECK(it != file.metadata.end(), path, ": not a heed checkpoint (metadata '", key,
               "' missing)");
    return it->second;
  };
  HEED_CHECK(meta("format") == kFormat, path, ": unsupported checkpoint format '", meta("format"),
             "' (this heed reads ", kFormat, ")");
  LoadedCheckpoint out;
  json config, trainer;
  io::check_json_depth(meta("config"), kMaxConfigDepth, path, "metadata 'config'");
  io::check_json_depth(meta("trainer"), kMaxConfigDepth, path, "metadata 'trainer'");
  try {
    config = json::parse(meta("config"));
    trainer = json::parse(meta("trainer"));
  } catch (const json::exception& e) {
    detail::fail(path, ": checkpoint metadata is not valid JSON: ", e.what());
  }
  try {
    out.info.config = parse_config(config);
    out.info.config.model.validate();
  } catch (const Error& e) {
    detail::fail(path, ": metadata ", e.what());
  }
  out.info.epoch = field<int64_t>(trainer, "epoch", path);
  out.info.batch = field<int64_t>(trainer, "batch", path);
  out.info.global_step = field<int64_t>(trainer, "global_step", path);
  out.info.best_val_accuracy = field<double>(trainer, "best_val_accuracy", path);
  const auto seeds = field<std::vector<uint64_t>>(trainer, "seed_state", path);
  HEED_CHECK(seeds.size() == 2, path, ": checkpoint metadata 'seed_state' must hold 2 numbers");
  out.info.seed_state = {seeds[0], seeds[1]};
  const json norm = field<json>(trainer, "normalization", path);
  out.info.normalization.mean = field<std::vector<float>>(norm, "mean", path);
  out.info.normalization.std = field<std::vector<float>>(norm, "std", path);
  HEED_CHECK(out.info.normalization.mean.size() == size_t(out.info.config.model.channels) &&
                 out.info.normalization.std.size() == size_t(out.info.config.model.channels),
             path, ": normalization must have one mean and std per channel");
  for (float v : out.info.normalization.std)
    HEED_CHECK(std::isfinite(v) && v > 0.f, path, ": normalization std must be positive, got ", v);
  for (auto& [name, t] : file.tensors) {
    // A NaN or infinite weight would give NaN logits and silently wrong predictions; heed never
    // saves one (training stops at a non-finite loss), so the file is damaged or diverged.
    if (t.dtype() == DType::F32) {
      const float* p = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i)
        HEED_CHECK(std::isfinite(p[i]), path, ": tensor '", name, "' holds ", p[i],
                   " at element ", i, " (a damaged or diverged checkpoint)");
    }
    if (name.rfind(kOptimizerPrefix, 0) == 0)
      out.optimizer[name.substr(std::string(kOptimizerPrefix).size())] = t;
    else
      out.model[name] = t;
  }
  return out;
}

LoadedModel load_model(const std::string& path) {
  LoadedCheckpoint ckpt = load_checkpoint(path);
  LoadedModel out{std::make_unique<nn::VisionTransformer>(ckpt.info.config.model, 0), ckpt.info};
  try {
    out.model->load_state_dict(ckpt.model);
  } catch (const Error& e) {
    detail::fail(path, ": ", e.what());
  }
  out.model->eval();
  return out;
}

// ---------------------------------------------------------------- evaluation

Evaluation evaluate(nn::VisionTransformer& model, const Tensor& images, const Tensor& labels,
                    int64_t batch_size, const std::vector<std::string>& class_names,
                    int replicas) {
  NoGradGuard no_grad;
  const bool was_training = model.training();
  model.eval();
  DataParallel parallel(model, replicas > 0 ? replicas : num_threads());
  const int64_t n = images.size(0);
  Evaluation e;
  std::vector<int64_t> truth(static_cast<size_t>(n));
  double loss_sum = 0;
  for (int64_t start = 0; start < n; start += batch_size) {
    const int64_t end = std::min(n, start + batch_size);
    Tensor x = images.slice(0, start, end).contiguous();
    Tensor y = labels.slice(0, start, end).contiguous();
    const Tensor l = parallel.predict(x);
    loss_sum += double(cross_entropy(Var(l), y).value().item()) * double(end - start);
    const int64_t classes = l.size(1);
    for (int64_t i = 0; i < end - start; ++i) {
      const float* row = l.f32() + i * classes;
      e.predictions.push_back(std::max_element(row, row + classes) - row);
      truth[size_t(start + i)] = y.i64()[i];
    }
  }
  e.loss = n ? loss_sum / double(n) : 0;
  e.report = metrics::classification_report(truth, e.predictions, class_names);
  model.train(was_training);
  return e;
}

// ---------------------------------------------------------------- training

namespace {
std::atomic<bool> g_interrupted{false};  // lock-free, so safe to set from a signal handler
static_assert(std::atomic<bool>::is_always_lock_free);
void on_interrupt(int) { g_interrupted = true; }

// Installs the Ctrl-C handler for the lifetime of a training run.
class InterruptScope {
 public:
  InterruptScope() : previous_(std::signal(SIGINT, on_interrupt)) { g_interrupted = false; }
  ~InterruptScope() { std::signal(SIGINT, previous_); }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_)(int);
};

std::vector<std::string> class_names_for(const DataOptions& d, int64_t classes) {
  if (!d.class_names.empty()) {
    HEED_CHECK(int64_t(d.class_names.size()) == classes, "config: data.class_names lists ",
               d.class_names.size(), " names but the data has ", classes, " classes");
    return d.class_names;
  }
  std::vector<std::string> names;
  for (int64_t i = 0; i < classes; ++i) names.push_back(std::to_string(i));
  return names;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, nn::Module& model) {
  std::vector<optim::Param> params = optim::make_params(model.named_parameters());
  if (o.optimizer == "sgd") {
    optim::SgdOptions s;
    s.lr = o.lr;
    s.momentum = float(o.momentum);
    s.weight_decay = float(o.weight_decay);
    return std::make_unique<optim::Sgd>(std::move(params), s);
  }
  optim::AdamWOptions a;
  a.lr = o.lr;
  a.beta1 = o.beta1;
  a.beta2 = o.beta2;
  a.weight_decay = o.weight_decay;
  return std::make_unique<optim::AdamW>(std::move(params), a);
}

// Copies the rows `indices` of a [N, ...] tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& indices) {
  Shape shape = t.shape();
  shape[0] = int64_t(indices.size());
  Tensor out = Tensor::empty(shape, t.dtype());
  const int64_t row = t.numel() / std::max<int64_t>(t.size(0), 1);
  const size_t bytes = size_t(row) * dtype_size(t.dtype());
  const auto* src = reinterpret_cast<const std::byte*>(t.dtype() == DType::F32 ? (const void*)t.f32()
                                                                                : (const void*)t.i64());
  auto* dst = reinterpret_cast<std::byte*>(out.dtype() == DType::F32 ? (void*)out.f32() : (void*)out.i64());
  for (size_t i = 0; i < indices.size(); ++i)
    std::memcpy(dst + i * bytes, src + size_t(indices[i]) * bytes, bytes);
  return out;
}

// The config without the keys that cannot change the result (so a resumed run may change them).
json resume_relevant(const ImageClassifierConfig& c) {
  json j = to_json(c);
  j["train"].erase("time_limit_minutes");
  j["train"].erase("log_every");
  j["data"].erase("eval_batch_size");
  return j;
}

void append_jsonl(const std::string& path, const json& line) {
  std::ofstream out(path, std::ios::app);
  HEED_CHECK(out, path, ": cannot open the metrics log for writing");
  out << line.dump() << "\n";
}
}  // namespace

TrainResult train_image_classifier(const ImageClassifierConfig& config_in, const std::string& data_dir,
                                   const std::string& out_dir, bool resume) {
  const auto start_time = std::chrono::steady_clock::now();
  ImageClassifierConfig config = config_in;
  if (config.train.threads > 0) set_num_threads(config.train.threads);
  std::filesystem::create_directories(out_dir);
  const std::string last_path = out_dir + "/last.safetensors", best_path = out_dir + "/best.safetensors";
  const std::string log_path = out_dir + "/metrics.jsonl";

  // Data: shape and classes come from the files.
  data::ImageSet all = data::load_idx_split(data_dir, "train");
  config.model.channels = all.images.size(1);
  config.model.image_height = all.images.size(2);
  config.model.image_width = all.images.size(3);
  config.model.num_classes = all.num_classes;
  config.model.validate();
  const std::vector<std::string> names = class_names_for(config.data, all.num_classes);
  config.data.class_names = names;
  auto [train_idx, val_idx] = data::split_indices(all.images.size(0), config.data.validation_fraction,
                                                  config.train.seed);
  CheckpointInfo info;
  info.config = config;
  info.normalization = data::compute_normalization(gather_rows(all.images, train_idx));
  data::normalize_inplace(all.images, info.normalization);
  const Tensor val_images = gather_rows(all.images, val_idx);
  const Tensor val_labels = gather_rows(all.labels, val_idx);

  nn::VisionTransformer model(config.model, config.train.seed);
  std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(config.train, model);
  nn::manual_seed(config.train.seed);
  if (resume) {
    LoadedCheckpoint ckpt = load_checkpoint(last_path);
    HEED_CHECK(resume_relevant(ckpt.info.config) == resume_relevant(config), last_path,
               ": was trained with a different configuration; resume needs the same one (only "
               "train.time_limit_minutes, train.log_every and data.eval_batch_size may change)");
    model.load_state_dict(ckpt.model);
    optimizer->load_state(ckpt.optimizer);
    info = ckpt.info;
    nn::set_seed_state(info.seed_state);
    std::fprintf(stderr, "resuming from %s at epoch %ld, batch %ld\n", last_path.c_str(),
                 long(info.epoch + 1), long(info.batch));
  } else {
    std::filesystem::remove(log_path);
  }

  data::AugmentOptions aug{config.data.crop_padding, config.data.horizontal_flip};
  data::BatchLoader loader(all, train_idx, config.train.batch_size, true, true, aug, config.train.seed);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  HEED_CHECK(steps_per_epoch > 0, "train: batch_size ", config.train.batch_size,
             " is larger than the training split (", train_idx.size(), " images)");
  optim::ScheduleOptions schedule;
  schedule.kind = config.train.schedule;
  schedule.total_steps = steps_per_epoch * config.train.epochs;
  schedule.warmup_steps = int64_t(config.train.warmup_epochs * double(steps_per_epoch));
  schedule.base_lr = config.train.lr;
  schedule.min_lr = config.train.min_lr;
  optim::validate(schedule);
  CrossEntropyOptions loss_options;
  loss_options.label_smoothing = config.train.label_smoothing;

  std::fprintf(stderr, "ViT: %ld parameters, %ldx%ldx%ld images, %ld classes; %zu train / %zu "
               "validation images, %ld steps per epoch, %d threads, %d replicas\n",
               long(model.parameter_count()), long(config.model.channels),
               long(config.model.image_height), long(config.model.image_width),
               long(config.model.num_classes), train_idx.size(), val_idx.size(),
               long(steps_per_epoch), num_threads(), config.train.replicas > 0 ? config.train.replicas : num_threads());

  InterruptScope interrupt_scope;
  TrainResult result{info.best_val_accuracy, 0, 0, false, best_path, last_path};
  auto save_last = [&] {
    info.seed_state = nn::seed_state();
    save_checkpoint(last_path, model, info, optimizer->state());
  };
  model.train();
  // After any resume has loaded the weights.
  const int replicas = config.train.replicas > 0 ? config.train.replicas : num_threads();
  DataParallel parallel(model, replicas);
  for (; info.epoch < config.train.epochs; ++info.epoch, info.batch = 0) {
    Progress progress(info.epoch, config.train.epochs, steps_per_epoch, config.train.log_every);
    loader.start_epoch(info.epoch, info.batch);
    double loss_sum = 0;
    int64_t loss_count = 0;
    while (std::optional<data::Batch> batch = loader.next()) {
      optimizer->set_lr(optim::learning_rate(schedule, info.global_step));
      const float value = parallel.train_step(batch->images, batch->labels, loss_options);
      HEED_CHECK(std::isfinite(value), "train: the loss became ",
                 std::isnan(value) ? "NaN" : value > 0 ? "+inf" : "-inf", " at epoch ", info.epoch + 1,
                 ", step ", info.batch + 1, " (learning rate ", optimizer->lr(), "); stopping. ",
                 std::filesystem::exists(last_path)
                     ? "The last good checkpoint is " + last_path
                     : std::string("No checkpoint was written yet"),
                 "; try a lower train.lr or set train.clip_grad_norm");
      if (config.train.clip_grad_norm > 0)
        optim::clip_grad_norm(optimizer->params(), config.train.clip_grad_norm);
      optimizer->step();
      optimizer->zero_grad();
      ++info.batch;
      ++info.global_step;
      loss_sum += value;
      ++loss_count;
      progress.update(info.batch, loss_sum / double(loss_count), batch->images.size(0));
      if (g_interrupted) {  // Ctrl-C: keep the exact position so --resume continues from here
        save_last();
        progress.finish("interrupted: saved " + last_path + " (resume with --resume)");
        result.interrupted = true;
        return result;
      }
    }
    const Evaluation val =
        evaluate(model, val_images, val_labels, config.data.eval_batch_size, names, replicas);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    const bool best = val.report.accuracy > info.best_val_accuracy;
    if (best) info.best_val_accuracy = val.report.accuracy;
    ++info.epoch;  // the saved position is the start of the next epoch
    info.batch = 0;
    save_last();
    if (best) save_checkpoint(best_path, model, info, optimizer->state());  // atomic, like last
    --info.epoch;
    append_jsonl(log_path, {{"epoch", info.epoch + 1}, {"step", info.global_step},
                            {"train_loss", loss_sum / double(std::max<int64_t>(loss_count, 1))},
                            {"val_loss", val.loss}, {"val_accuracy", val.report.accuracy},
                            {"lr", optimizer->lr()}, {"seconds", elapsed}});
    char summary[256];
    std::snprintf(summary, sizeof summary,
                  "epoch %ld/%ld: train loss %.4f, validation loss %.4f, accuracy %.4f%s [%s]",
                  long(info.epoch + 1), long(config.train.epochs),
                  loss_sum / double(std::max<int64_t>(loss_count, 1)), val.loss, val.report.accuracy,
                  best ? " (best)" : "", format_duration(elapsed).c_str());
    progress.finish(summary);
    result.epochs_done = info.epoch + 1;
    result.best_val_accuracy = info.best_val_accuracy;
    if (config.train.time_limit_minutes > 0 && elapsed > config.train.time_limit_minutes * 60) {
      std::fprintf(stderr, "time limit of %.1f minutes reached\n", config.train.time_limit_minutes);
      ++info.epoch;
      break;
    }
  }
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return result;
}

}  // namespace heed::train
