// Image classification with a Vision Transformer: configuration, checkpoints, training loop,
// evaluation and prediction. The CLI's train/eval/predict commands are thin wrappers.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/data/idx.h"
#include "heed/data/loader.h"
#include "heed/metrics/classification.h"
#include "heed/nn/models/vit.h"

namespace heed::train {

struct TrainOptions {
  int64_t epochs = 10, batch_size = 128;
  std::string optimizer = "adamw";  // adamw | sgd
  float lr = 1e-3f, min_lr = 1e-5f;
  double weight_decay = 0.05, beta1 = 0.9, beta2 = 0.999, momentum = 0.9;
  std::string schedule = "cosine";  // cosine | linear | constant
  double warmup_epochs = 1.0;
  float label_smoothing = 0.0f;
  float clip_grad_norm = 0.0f;  // 0: off
  uint64_t seed = 0;
  int threads = 0;            // 0: OMP_NUM_THREADS or every core
  // Model replicas the batch is split over (train/data_parallel.h); 0: one per thread. With a
  // fixed count, results are bit-identical for any thread count.
  int replicas = 0;
  int64_t log_every = 50;     // steps between log lines when stderr is not a terminal
  double time_limit_minutes = 0;  // > 0: stop after the epoch in which this much time has passed
};

struct DataOptions {
  double validation_fraction = 0.1;  // held out of the training files, seeded split
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  int64_t eval_batch_size = 500;
  std::vector<std::string> class_names;  // default: "0", "1", ...
};

struct ImageClassifierConfig {
  nn::VitConfig model;  // image size, channels and classes come from the data
  TrainOptions train;
  DataOptions data;
};

// Strict parsing: unknown keys, wrong types and impossible values fail naming the key.
ImageClassifierConfig parse_config(const nlohmann::json& json);
nlohmann::json to_json(const ImageClassifierConfig& config);

// Everything a checkpoint holds besides tensors.
struct CheckpointInfo {
  ImageClassifierConfig config;
  data::Normalization normalization;
  int64_t epoch = 0, batch = 0;  // position of the next step: epoch, batch within it
  int64_t global_step = 0;
  double best_val_accuracy = -1;
  std::pair<uint64_t, uint64_t> seed_state{0, 0};
};

// Writes model parameters (timm names), optional optimiser state ("optimizer.*") and the info
// as metadata, atomically. Format: docs/checkpoint-format.md.
void save_checkpoint(const std::string& path, nn::VisionTransformer& model,
                     const CheckpointInfo& info,
                     const std::vector<std::pair<std::string, Tensor>>& optimizer_state);
struct LoadedCheckpoint {
  CheckpointInfo info;
  std::map<std::string, Tensor> model, optimizer;
};
LoadedCheckpoint load_checkpoint(const std::string& path);

struct TrainResult {
  double best_val_accuracy = 0, seconds = 0;
  int64_t epochs_done = 0;
  bool interrupted = false;
  std::string best_path, last_path;
};

// Trains on <data_dir>/train-* (minus the validation split), evaluates on the split every
// epoch, writes <out_dir>/{last,best}.safetensors and <out_dir>/metrics.jsonl. With `resume`,
// continues from <out_dir>/last.safetensors exactly where it stopped.
TrainResult train_image_classifier(const ImageClassifierConfig& config, const std::string& data_dir,
                                   const std::string& out_dir, bool resume);

struct Evaluation {
  metrics::ClassificationReport report;
  double loss = 0;
  std::vector<int64_t> predictions;
};
// `images` must already be normalised. Runs without gradients, in eval mode, over `replicas`
// model replicas (0: one per thread).
Evaluation evaluate(nn::VisionTransformer& model, const Tensor& images, const Tensor& labels,
                    int64_t batch_size, const std::vector<std::string>& class_names,
                    int replicas = 0);

// A model rebuilt from a checkpoint, ready for inference.
struct LoadedModel {
  std::unique_ptr<nn::VisionTransformer> model;
  CheckpointInfo info;
};
LoadedModel load_model(const std::string& checkpoint_path);

}  // namespace heed::train
