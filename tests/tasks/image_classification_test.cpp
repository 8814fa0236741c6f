// The image-classification trainer end to end on a tiny synthetic IDX set (8x8 grey images,
// 3 classes, the class drawn as a bright square in a class-specific corner plus noise): config
// parsing, training to high accuracy, checkpoints, evaluation, resume, determinism, errors.
#include "heed/tasks/image_classification.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "heed/compress/prune.h"
#include "heed/core/rng.h"
#include "heed/io/safetensors.h"
#include "heed/train/config_json.h"
#include "test_files.h"
#include "test_util.h"

namespace heed::tasks {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::Bytes;
using train::apply_override;
using train::TrainResult;
using test::idx_file;
using test::write_bytes;

// ---------------------------------------------------------------- helpers

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error thrown";
  return "";
}

constexpr int kSide = 8, kClasses = 3, kTrainImages = 300, kTestImages = 60;

void write_split(const fs::path& dir, const std::string& prefix, int n, uint64_t seed) {
  test::write_image_split(dir, prefix, n, seed, kSide);
}

// A small, fast config: dim 16, depth 1, batch 32 (7 steps per epoch), 2 threads.
json base_config() {
  return json::parse(R"({
    "model": {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
    "train": {"epochs": 3, "batch_size": 32, "lr": 0.01, "min_lr": 0.0001, "warmup_epochs": 0.5,
              "weight_decay": 0.01, "seed": 7, "threads": 2, "log_every": 1000},
    "data": {"validation_fraction": 0.2, "eval_batch_size": 64}
  })");
}

// A checkpoint of this task as the library reads it.
struct LoadedCheckpoint {
  CheckpointInfo info;
  std::map<std::string, Tensor> model, optimizer;
};
LoadedCheckpoint load_checkpoint(const std::string& path) {
  const train::Checkpoint c = train::read_checkpoint(path);
  return {checkpoint_info(c), c.model, c.optimizer};
}

// Trains on the IDX files in `data_dir` (the config's data.dir).
TrainResult train_image_classifier(ImageClassifierConfig c, const std::string& data_dir, const std::string& out,
                                   bool resume) {
  c.data.dir = data_dir;
  return tasks::train_image_classifier(c, out, resume);
}

// Tensors of a safetensors file by name.
std::map<std::string, Tensor> tensors_of(const std::string& path) {
  std::map<std::string, Tensor> out;
  for (auto& [name, t] : io::read_safetensors(path).tensors) out[name] = t;
  return out;
}

// Bitwise equality of two tensor maps (names, dtypes, shapes and bytes).
void expect_bit_identical(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b,
                          const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, ta] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << what << ": '" << name << "' missing";
    const Tensor& tb = it->second;
    ASSERT_EQ(ta.dtype(), tb.dtype()) << what << ": " << name;
    ASSERT_EQ(ta.shape(), tb.shape()) << what << ": " << name;
    const Tensor ca = ta.contiguous(), cb = tb.contiguous();
    const size_t bytes = size_t(ca.numel()) * dtype_size(ca.dtype());
    const void* pa = ca.dtype() == DType::F32 ? (const void*)ca.f32() : (const void*)ca.i64();
    const void* pb = cb.dtype() == DType::F32 ? (const void*)cb.f32() : (const void*)cb.i64();
    EXPECT_EQ(std::memcmp(pa, pb, bytes), 0) << what << ": '" << name << "' differs";
  }
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One data set for the whole suite; a fresh output directory per test.
class ImageClassifierTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_dir_ = fs::path(::testing::TempDir()) / ("heed_image_classifier_data_" + std::to_string(::getpid()));
    fs::remove_all(data_dir_);
    fs::create_directories(data_dir_);
    write_split(data_dir_, "train", kTrainImages, 1);
    write_split(data_dir_, "t10k", kTestImages, 2);
  }
  static void TearDownTestSuite() { fs::remove_all(data_dir_); }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) /
           ("heed_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  static std::string data() { return data_dir_.string(); }

  static fs::path data_dir_;
  fs::path dir_;
};
fs::path ImageClassifierTest::data_dir_;

// ---------------------------------------------------------------- (a) configuration

TEST(ImageClassifierConfig, UnknownKeysAreNamed) {
  json j = base_config();
  j["train"]["lerning_rate"] = 0.1;
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: unknown key 'train.lerning_rate'");
  j = base_config();
  j["model"]["dims"] = 16;
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: unknown key 'model.dims'");
  j = base_config();
  j["data"]["flip"] = true;
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: unknown key 'data.flip'");
  j = base_config();
  j["optimiser"] = json::object();
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: unknown key 'optimiser'");
}

TEST(ImageClassifierConfig, WrongTypesAreNamed) {
  json j = base_config();
  j["model"]["dim"] = "16";
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: model.dim must be an integer, got \"16\"");
  j = base_config();
  j["model"]["dim"] = 16.5;
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "model.dim must be an integer");
  j = base_config();
  j["train"]["lr"] = "fast";
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "train.lr must be a number");
  j = base_config();
  j["data"]["horizontal_flip"] = 1;
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "data.horizontal_flip must be true or false");
  j = base_config();
  j["train"]["optimizer"] = 3;
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "train.optimizer must be a string");
  j = base_config();
  j["data"]["class_names"] = {"a", 2, "c"};
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "data.class_names must hold strings");
  j = base_config();
  j["model"] = 5;
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "model must be an object");
}

TEST(ImageClassifierConfig, ImpossibleValuesAreNamed) {
  auto error_with = [](const std::string& section, const std::string& key, json value) {
    json j = base_config();
    j[section][key] = value;
    return error_of([&] { parse_config(j); });
  };
  EXPECT_CONTAINS(error_with("data", "validation_fraction", 1.5), "data.validation_fraction");
  EXPECT_CONTAINS(error_with("data", "validation_fraction", 0.0), "data.validation_fraction");
  EXPECT_CONTAINS(error_with("train", "epochs", 0), "train.epochs");
  EXPECT_CONTAINS(error_with("train", "batch_size", -1), "train.batch_size");
  EXPECT_CONTAINS(error_with("train", "batch_tokens", -1), "train.batch_tokens");
  EXPECT_CONTAINS(error_with("train", "batch_tokens", 4096), "train.batch_tokens is for tasks over tokens");
  EXPECT_CONTAINS(error_with("train", "optimizer", "adam"), "train.optimizer");
  EXPECT_CONTAINS(error_with("train", "lr", 0), "train.lr");
  EXPECT_CONTAINS(error_with("train", "min_lr", 1.0), "train.min_lr");
  EXPECT_CONTAINS(error_with("train", "schedule", "step"), "train.schedule");
  EXPECT_CONTAINS(error_with("train", "warmup_epochs", 4), "train.warmup_epochs");
  EXPECT_CONTAINS(error_with("train", "label_smoothing", 1.0), "train.label_smoothing");
  EXPECT_CONTAINS(error_with("train", "threads", -2), "train.threads");
  EXPECT_CONTAINS(error_with("model", "norm", "middle"), "model.norm");
  EXPECT_CONTAINS(error_with("data", "crop_padding", -1), "data.crop_padding");
  EXPECT_CONTAINS(error_with("data", "eval_batch_size", 0), "data.eval_batch_size");
}

TEST_F(ImageClassifierTest, ModelErrorsSurfaceAtTrainStartNamingTheKey) {
  // parse_config leaves the model to VitConfig::validate, which runs once the data has given the
  // image size: before any work, naming the key.
  json j = base_config();
  j["model"]["heads"] = 3;  // does not divide dim 16
  const ImageClassifierConfig c = parse_config(j);
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(c, data(), out("heads"), false); }), "model.heads");
  j = base_config();
  j["model"]["patch_size"] = 3;  // does not divide 8
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(j), data(), out("patch"), false); }),
                  "model.patch_size");
  j = base_config();
  j["data"]["class_names"] = {"a", "b"};  // the data has 3 classes
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(j), data(), out("names"), false); }),
                  "data.class_names");
  j = base_config();
  j["train"]["batch_size"] = 1000;  // more than the 240 training images
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(j), data(), out("batch"), false); }),
                  "batch_size");
  EXPECT_FALSE(fs::exists(out("heads") + "/last.safetensors"));
  // A missing data set names the files it looked for.
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(base_config()), out("nowhere"),
                                                        out("missing"), false); }),
                  "train-images-idx3-ubyte");
}

TEST(ImageClassifierConfig, OverridesApplyLikeSet) {
  json j = base_config();
  apply_override(j, "train.epochs=5");
  apply_override(j, "train.optimizer=sgd");  // a bare word is a string
  apply_override(j, "train.lr=0.05");
  apply_override(j, "data.horizontal_flip=true");
  apply_override(j, R"(data.class_names=["x","y","z"])");
  apply_override(j, "model.norm=post");
  const ImageClassifierConfig c = parse_config(j);
  EXPECT_EQ(c.train.epochs, 5);
  EXPECT_EQ(c.train.optimizer, "sgd");
  EXPECT_FLOAT_EQ(c.train.lr, 0.05f);
  EXPECT_TRUE(c.data.horizontal_flip);
  EXPECT_EQ(c.data.class_names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_FALSE(c.model.pre_norm);
  // A new section is created on the way; parse_config then judges the key.
  json k = json::object();
  apply_override(k, "train.epochs=2");
  EXPECT_EQ(parse_config(k).train.epochs, 2);
  // Typos and wrong types are caught when the config is read, naming the key.
  j = base_config();
  apply_override(j, "train.lerning_rate=0.1");
  EXPECT_EQ(error_of([&] { parse_config(j); }), "config: unknown key 'train.lerning_rate'");
  j = base_config();
  apply_override(j, "model.dim=\"16\"");
  EXPECT_CONTAINS(error_of([&] { parse_config(j); }), "model.dim must be an integer");
  // Malformed assignments.
  EXPECT_CONTAINS(error_of([&] { apply_override(j, "train.epochs"); }), "expected key=value");
  EXPECT_CONTAINS(error_of([&] { apply_override(j, "=3"); }), "expected key=value");
  EXPECT_CONTAINS(error_of([&] { apply_override(j, "train.epochs.x=1"); }), "'train.epochs' is not an object");
}

TEST(ImageClassifierConfig, ToJsonRoundTrips) {
  json j = base_config();
  j["data"]["class_names"] = {"a", "b", "c"};
  j["train"]["seed"] = uint64_t(0xfedcba9876543210ull);
  const ImageClassifierConfig c = parse_config(j);
  const json full = to_json(c);
  for (const char* section : {"model", "train", "data"}) EXPECT_TRUE(full.contains(section)) << section;
  EXPECT_EQ(to_json(parse_config(full)), full);
  EXPECT_EQ(parse_config(full).train.seed, 0xfedcba9876543210ull);
  // Defaults fill everything.
  EXPECT_EQ(to_json(parse_config(json::object())), to_json(ImageClassifierConfig{}));
}

// ---------------------------------------------------------------- (b), (c) training, evaluation

TEST_F(ImageClassifierTest, TrainsToHighAccuracyAndWritesCheckpoints) {
  const ImageClassifierConfig c = parse_config(base_config());
  const TrainResult r = train_image_classifier(c, data(), out("run"), false);
  EXPECT_EQ(r.epochs_done, 3);
  EXPECT_FALSE(r.interrupted);
  EXPECT_GT(r.best_metric, 0.9);
  EXPECT_EQ(r.best_path, out("run") + "/best.safetensors");
  EXPECT_EQ(r.last_path, out("run") + "/last.safetensors");
  EXPECT_TRUE(fs::exists(r.best_path));
  EXPECT_TRUE(fs::exists(r.last_path));
  // No temporary files are left behind by the atomic writes.
  for (const auto& entry : fs::directory_iterator(out("run")))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();

  const std::vector<std::string> lines = read_lines(out("run") + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 3u);
  double best = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const json m = json::parse(lines[i]);
    EXPECT_EQ(m.at("epoch").get<int64_t>(), int64_t(i) + 1);
    EXPECT_EQ(m.at("step").get<int64_t>(), 7 * (int64_t(i) + 1));  // 240 images / 32, drop_last
    for (const char* key : {"train_loss", "val_loss", "val_accuracy", "lr", "seconds"})
      EXPECT_TRUE(m.contains(key)) << key;
    EXPECT_TRUE(std::isfinite(m.at("train_loss").get<double>()));
    best = std::max(best, m.at("val_accuracy").get<double>());
  }
  EXPECT_DOUBLE_EQ(best, r.best_metric);

  // last.safetensors: the model, the optimiser state and the position after the last epoch.
  const LoadedCheckpoint last = load_checkpoint(r.last_path);
  EXPECT_EQ(last.info.state.epoch, 3);
  EXPECT_EQ(last.info.state.batch, 0);
  EXPECT_EQ(last.info.state.global_step, 21);
  EXPECT_DOUBLE_EQ(last.info.state.best_metric, r.best_metric);
  EXPECT_EQ(last.info.config.model.image_height, 8);
  EXPECT_EQ(last.info.config.model.channels, 1);
  EXPECT_EQ(last.info.config.model.num_classes, 3);
  EXPECT_EQ(last.info.config.data.class_names, (std::vector<std::string>{"0", "1", "2"}));
  ASSERT_EQ(last.info.normalization.mean.size(), 1u);
  EXPECT_GT(last.info.normalization.std[0], 0.f);
  ASSERT_TRUE(last.optimizer.count("step"));
  EXPECT_EQ(*last.optimizer.at("step").i64(), 21);
  EXPECT_TRUE(last.optimizer.count("exp_avg.blocks.0.attn.qkv.weight"));
  EXPECT_TRUE(last.optimizer.count("exp_avg_sq.head.weight"));
  EXPECT_TRUE(last.model.count("pos_embed"));
  const LoadedCheckpoint best_ckpt = load_checkpoint(r.best_path);
  EXPECT_DOUBLE_EQ(best_ckpt.info.state.best_metric, r.best_metric);

  // (c) evaluate() on the test split, through load_model like `heed eval`.
  LoadedModel m = load_model(r.best_path);
  EXPECT_FALSE(m.model->training());
  data::ImageSet test = data::load_idx_split(data(), "t10k");
  data::normalize_inplace(test.images, m.info.normalization);
  const train::EvalResult e = evaluate(*m.model, test.images, test.labels, 25, m.info.config.data.class_names);
  ASSERT_EQ(e.predictions.size(), size_t(kTestImages));
  int64_t correct = 0;
  for (int64_t i = 0; i < kTestImages; ++i) correct += e.predictions[size_t(i)] == test.labels.i64()[i];
  EXPECT_DOUBLE_EQ(e.metric, double(correct) / kTestImages);
  EXPECT_DOUBLE_EQ(e.json.at("accuracy").get<double>(), e.metric);
  EXPECT_GT(e.metric, 0.9);
  EXPECT_TRUE(std::isfinite(e.loss));
  // The batch size of evaluation does not change the predictions.
  EXPECT_EQ(evaluate(*m.model, test.images, test.labels, 7, m.info.config.data.class_names).predictions,
            e.predictions);
}

// ---------------------------------------------------------------- (d) resume

// Augmentation and dropout make the resume test sensitive to the loader position and the
// dropout seed stream, not just to the weights and the optimiser state.
json resume_config() {
  json j = base_config();
  j["model"]["dropout"] = 0.1;
  j["model"]["drop_path"] = 0.1;
  j["data"]["crop_padding"] = 1;
  j["data"]["horizontal_flip"] = true;
  return j;
}

TEST_F(ImageClassifierTest, ResumeAtEpochBoundariesIsBitIdentical) {
  // A: 3 epochs straight.
  const TrainResult a = train_image_classifier(parse_config(resume_config()), data(), out("a"), false);
  ASSERT_EQ(a.epochs_done, 3);
  // B: the same run, stopped after every epoch by a (tiny) time limit and resumed. The time
  // limit changes nothing in the arithmetic.
  json jb = resume_config();
  jb["train"]["time_limit_minutes"] = 1e-9;
  const ImageClassifierConfig b = parse_config(jb);
  TrainResult r = train_image_classifier(b, data(), out("b"), false);
  EXPECT_EQ(r.epochs_done, 1);
  EXPECT_EQ(load_checkpoint(out("b") + "/last.safetensors").info.state.epoch, 1);
  r = train_image_classifier(b, data(), out("b"), true);
  EXPECT_EQ(r.epochs_done, 2);
  r = train_image_classifier(b, data(), out("b"), true);
  EXPECT_EQ(r.epochs_done, 3);
  EXPECT_DOUBLE_EQ(r.best_metric, a.best_metric);
  // Same weights and optimiser state, bit for bit, and the same position.
  expect_bit_identical(tensors_of(out("a") + "/last.safetensors"), tensors_of(out("b") + "/last.safetensors"),
                       "resumed vs straight");
  const LoadedCheckpoint la = load_checkpoint(out("a") + "/last.safetensors");
  const LoadedCheckpoint lb = load_checkpoint(out("b") + "/last.safetensors");
  EXPECT_EQ(la.info.state.global_step, lb.info.state.global_step);
  EXPECT_EQ(la.info.state.seed_state, lb.info.state.seed_state);
  // metrics.jsonl continues across resumes: one line per epoch, same validation numbers.
  const std::vector<std::string> ma = read_lines(out("a") + "/metrics.jsonl");
  const std::vector<std::string> mb = read_lines(out("b") + "/metrics.jsonl");
  ASSERT_EQ(ma.size(), 3u);
  ASSERT_EQ(mb.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    EXPECT_EQ(json::parse(ma[i]).at("val_loss"), json::parse(mb[i]).at("val_loss")) << "epoch " << i + 1;
  // Resuming needs the same configuration, except keys that cannot change the result (the time
  // limit here: B's run is complete, so this resume has nothing left to do).
  EXPECT_EQ(train_image_classifier(parse_config(resume_config()), data(), out("b"), true).epochs_done, 0);
  json changed = resume_config();
  changed["train"]["lr"] = 0.5;
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(changed), data(), out("b"), true); }),
                  "different configuration");
  // And an existing last.safetensors.
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(b, data(), out("none"), true); }), "last.safetensors");
}

// Ctrl-C mid-epoch: the trainer saves the exact position (epoch, batch) and --resume continues
// from it, bit for bit.
// A run's metrics.jsonl without the wall-clock field: what must be identical between runs.
std::string metrics_without_clock(const std::string& run) {
  std::ifstream in(run + "/metrics.jsonl");
  std::string all;
  for (std::string line; std::getline(in, line);) {
    json entry = json::parse(line);
    entry.erase("seconds");
    all += entry.dump() + "\n";
  }
  return all;
}

TEST_F(ImageClassifierTest, ResumeAfterInterruptMidEpochIsBitIdentical) {
  json j = resume_config();
  j["train"]["epochs"] = 4;
  const ImageClassifierConfig c = parse_config(j);
  const TrainResult a = train_image_classifier(c, data(), out("a"), false);
  ASSERT_EQ(a.epochs_done, 4);

  // Ctrl-C right after global step 10: epoch 2 (steps 8-14), batch 3. The trainer's fail point
  // raises it at that exact step (HEED_SIGNAL_AT_STEP), so the test does not race a timer.
  const std::string dir = out("b");
  ::setenv("HEED_SIGNAL_AT_STEP", "10", 1);
  TrainResult r;
  try {
    r = train_image_classifier(c, data(), dir, false);
  } catch (...) {
    ::unsetenv("HEED_SIGNAL_AT_STEP");
    throw;
  }
  ::unsetenv("HEED_SIGNAL_AT_STEP");
  ASSERT_TRUE(r.interrupted);
  EXPECT_EQ(r.signal, SIGINT);
  const LoadedCheckpoint stopped = load_checkpoint(dir + "/last.safetensors");
  ASSERT_EQ(stopped.info.state.epoch, 1);
  ASSERT_EQ(stopped.info.state.batch, 3);
  EXPECT_EQ(stopped.info.state.global_step, 10);
  const TrainResult resumed = train_image_classifier(c, data(), dir, true);
  EXPECT_FALSE(resumed.interrupted);
  expect_bit_identical(tensors_of(out("a") + "/last.safetensors"), tensors_of(dir + "/last.safetensors"),
                       "resumed after Ctrl-C at epoch 2, batch 3");
  EXPECT_EQ(load_checkpoint(dir + "/last.safetensors").info.state.global_step, 28);
  // metrics.jsonl gives every epoch's full figures, the interrupted one's training loss
  // included (its running sum is in the checkpoint): the same lines as the straight run's.
  EXPECT_EQ(metrics_without_clock(dir), metrics_without_clock(out("a")));
}

// train.max_steps (Hugging Face's max_steps): the schedule spans those steps and the run ends
// inside an epoch, which is validated and saved like any other.
TEST_F(ImageClassifierTest, MaxStepsEndsTheRunInsideAnEpoch) {
  // 240 training images in batches of 32: 7 steps per epoch (the last batch short).
  json two_epochs = base_config();
  two_epochs["train"]["epochs"] = 2;
  json fourteen_steps = base_config();
  fourteen_steps["train"]["epochs"] = 9;  // ignored: max_steps decides
  fourteen_steps["train"]["max_steps"] = 14;
  const TrainResult a = train_image_classifier(parse_config(two_epochs), data(), out("epochs"), false);
  const TrainResult b = train_image_classifier(parse_config(fourteen_steps), data(), out("steps"), false);
  ASSERT_EQ(a.epochs_done, 2);
  ASSERT_EQ(b.epochs_done, 2);
  // 14 steps are two whole epochs with the same schedule: the same run, bit for bit.
  expect_bit_identical(tensors_of(out("epochs") + "/last.safetensors"), tensors_of(out("steps") + "/last.safetensors"),
                       "max_steps 14 against 2 epochs of 7 steps");
  EXPECT_EQ(metrics_without_clock(out("steps")), metrics_without_clock(out("epochs")));

  json ten_steps = base_config();
  ten_steps["train"]["max_steps"] = 10;
  const TrainResult c = train_image_classifier(parse_config(ten_steps), data(), out("ten"), false);
  EXPECT_EQ(c.epochs_done, 2);  // 7 steps, then 3 of the second epoch
  EXPECT_EQ(load_checkpoint(out("ten") + "/last.safetensors").info.state.global_step, 10);
  const std::vector<std::string> lines = read_lines(out("ten") + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(json::parse(lines[0]).at("step"), 7);
  EXPECT_EQ(json::parse(lines[1]).at("step"), 10);
  // The cosine schedule spans the 10 steps: after int(0.5 x 7) = 3 warm-up steps, the last
  // step (index 9) is 6/7 of the decay, at min + (base - min) (1 + cos(pi 6/7)) / 2.
  const double want_lr = 0.0001 + (0.01 - 0.0001) * 0.5 * (1 + std::cos(M_PI * (9.0 - 3.0) / (10.0 - 3.0)));
  EXPECT_NEAR(json::parse(lines[1]).at("lr").get<double>(), want_lr, 1e-7);

  // Written only when set, so configs from before the key read back equal; checked values.
  EXPECT_FALSE(to_json(parse_config(base_config())).at("train").contains("max_steps"));
  EXPECT_EQ(to_json(parse_config(ten_steps)).at("train").at("max_steps"), 10);
  ten_steps["train"]["max_steps"] = -1;
  EXPECT_CONTAINS(error_of([&] { parse_config(ten_steps); }), "train.max_steps");
  ten_steps["train"]["max_steps"] = 2;
  ten_steps["train"]["warmup_epochs"] = 1;  // 7 steps of warm-up in a 2-step run
  EXPECT_CONTAINS(error_of([&] { train_image_classifier(parse_config(ten_steps), data(), out("short"), false); }),
                  "more than train.max_steps = 2");
}

// heed prune --heads F --out P --fine-tune-steps N: the pruned model is fine-tuned on the one
// trainer with the checkpoint's own config and data, and P becomes that run's best checkpoint.
TEST_F(ImageClassifierTest, PruneFineTuneTrainsThePrunedModelOnItsOwnConfig) {
  train_image_classifier(parse_config(base_config()), data(), out("run"), false);  // 1 block, 2 heads
  const train::Checkpoint trained = train::read_checkpoint(out("run") + "/best.safetensors");
  compress::PruneOptions o;
  o.samples = 64;
  o.heads = 0.5;
  o.out = out("plain.safetensors");
  compress::prune_report(trained, o);  // removal only, for comparison
  o.out = out("tuned.safetensors");
  o.fine_tune_steps = 5;
  const compress::PruneReport r = compress::prune_report(trained, o);
  EXPECT_EQ(r.fine_tune_status, 0);
  EXPECT_EQ(r.fine_tune_run, o.out + ".fine-tune");
  EXPECT_EQ(r.removed.layer_heads, (std::vector<int64_t>{1}));

  // The run: from the pruned weights, 5 steps, a tenth of the learning rate, no warm-up.
  const train::Checkpoint best = train::read_checkpoint(r.fine_tune_run + "/best.safetensors");
  const json& t = best.meta.config.at("train");
  EXPECT_EQ(t.at("max_steps"), 5);
  EXPECT_EQ(t.at("init_from"), o.out);
  EXPECT_NEAR(t.at("lr").get<double>(), 0.001, 1e-9);
  EXPECT_EQ(t.at("warmup_epochs"), 0);
  EXPECT_EQ(best.meta.config.at("model").at("layer_heads"), json::array({1}));
  EXPECT_EQ(best.meta.config.at("data").at("dir"), data());
  ASSERT_EQ(read_lines(r.fine_tune_run + "/metrics.jsonl").size(), 1u);
  EXPECT_EQ(json::parse(read_lines(r.fine_tune_run + "/metrics.jsonl")[0]).at("step"), 5);

  // --out holds the fine-tuned weights: the run's best, not the plain removal's.
  expect_bit_identical(tensors_of(o.out), tensors_of(r.fine_tune_run + "/best.safetensors"), "--out and the run's best");
  EXPECT_NE(tensors_of(o.out).at("head.weight").to_vector(),
            tensors_of(out("plain.safetensors")).at("head.weight").to_vector());
  EXPECT_CONTAINS(r.text(), "fine-tuned");

  // Without --out there is nothing to fine-tune; a second run needs --overwrite.
  compress::PruneOptions bad;
  bad.fine_tune_steps = 5;
  EXPECT_CONTAINS(error_of([&] { compress::prune_report(trained, bad); }), "give --heads F and --out FILE");
  EXPECT_CONTAINS(error_of([&] { compress::prune_report(trained, o); }), "exists");
  // A new --out whose fine-tune directory is taken: refused before anything is written.
  fs::rename(o.out, out("moved.safetensors"));
  EXPECT_CONTAINS(error_of([&] { compress::prune_report(trained, o); }),
                  o.out + ".fine-tune: holds an earlier fine-tune");
  EXPECT_FALSE(fs::exists(o.out));
}

// ---------------------------------------------------------------- (e) determinism

TEST_F(ImageClassifierTest, IdenticalRunsGiveBitIdenticalCheckpoints) {
  const ImageClassifierConfig c = parse_config(resume_config());
  train_image_classifier(c, data(), out("one"), false);
  train_image_classifier(c, data(), out("two"), false);
  const std::string one = out("one") + "/last.safetensors", two = out("two") + "/last.safetensors";
  expect_bit_identical(tensors_of(one), tensors_of(two), "two identical runs");
  EXPECT_EQ(io::read_safetensors(one).metadata, io::read_safetensors(two).metadata);
  // A different seed gives different weights.
  json j = resume_config();
  j["train"]["seed"] = 8;
  train_image_classifier(parse_config(j), data(), out("three"), false);
  EXPECT_NE(tensors_of(one).at("head.weight").to_vector(),
            tensors_of(out("three") + "/last.safetensors").at("head.weight").to_vector());
}

TEST_F(ImageClassifierTest, FixedReplicasGiveTheSameBitsAtOneTwoAndThreeThreads) {
  // With train.replicas fixed, the batch is cut the same way whatever the thread count, each
  // replica's ops run single-threaded and the gradients are added in replica order: a whole
  // run (training, validation, checkpoints, metrics) is bit-identical at 1, 2 and 3 threads.
  std::vector<std::string> logs;
  for (int threads : {1, 2, 3}) {
    json j = resume_config();
    j["train"]["threads"] = threads;
    j["train"]["replicas"] = 2;
    const std::string dir = out("threads" + std::to_string(threads));
    train_image_classifier(parse_config(j), data(), dir, false);
    if (threads > 1) {
      expect_bit_identical(tensors_of(out("threads1") + "/last.safetensors"),
                           tensors_of(dir + "/last.safetensors"), std::to_string(threads) + " threads");
      expect_bit_identical(tensors_of(out("threads1") + "/best.safetensors"),
                           tensors_of(dir + "/best.safetensors"), std::to_string(threads) + " threads");
    }
    logs.push_back(metrics_without_clock(dir));
  }
  EXPECT_EQ(logs[0], logs[1]);
  EXPECT_EQ(logs[0], logs[2]);
  EXPECT_FALSE(logs[0].empty());
}

// ---------------------------------------------------------------- (f) checkpoint files

CheckpointInfo sample_info() {
  CheckpointInfo info;
  info.config = parse_config(base_config());
  info.config.model.image_height = info.config.model.image_width = 8;
  info.config.model.channels = 1;
  info.config.model.num_classes = 3;
  info.config.model.depth = 2;
  info.config.data.class_names = {"square", "centre", "corner \"quoted\""};
  info.normalization = {{0.123456789f}, {0.3141592f}};
  info.state.epoch = 2;
  info.state.batch = 5;
  info.state.global_step = 19;
  info.state.has_best = true;
  info.state.best_metric = 0.8125;
  info.state.seed_state = {0xfedcba9876543210ull, 12345};
  return info;
}

TEST_F(ImageClassifierTest, CheckpointRoundTrip) {
  const CheckpointInfo info = sample_info();
  nn::VisionTransformer model(info.config.model, 3);
  Rng rng(9);
  std::vector<std::pair<std::string, Tensor>> optimizer_state;
  Tensor step = Tensor::zeros({}, DType::I64);
  *step.i64() = 19;
  optimizer_state.emplace_back("step", step);
  for (auto& [name, var] : model.named_parameters())
    optimizer_state.emplace_back("exp_avg." + name, Tensor::randn(var->shape(), rng));
  const std::string path = out("ckpt.safetensors");
  save_checkpoint(path, model, info, optimizer_state);

  const LoadedCheckpoint loaded = load_checkpoint(path);
  std::map<std::string, Tensor> want_model, want_optimizer;
  for (auto& [name, t] : model.state_dict()) want_model[name] = t;
  for (auto& [name, t] : optimizer_state) want_optimizer[name] = t;
  expect_bit_identical(loaded.model, want_model, "model tensors");
  expect_bit_identical(loaded.optimizer, want_optimizer, "optimizer tensors");
  EXPECT_EQ(to_json(loaded.info.config), to_json(info.config));
  EXPECT_EQ(loaded.info.normalization.mean, info.normalization.mean);
  EXPECT_EQ(loaded.info.normalization.std, info.normalization.std);
  EXPECT_EQ(loaded.info.state.epoch, 2);
  EXPECT_EQ(loaded.info.state.batch, 5);
  EXPECT_EQ(loaded.info.state.global_step, 19);
  EXPECT_EQ(loaded.info.state.best_metric, 0.8125);
  EXPECT_EQ(loaded.info.state.seed_state, info.state.seed_state);

  // The file itself: model tensors under timm's names, optimiser state under "optimizer.".
  const io::SafetensorsFile file = io::read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "heed-checkpoint-1");
  EXPECT_EQ(file.metadata.at("task"), "image-classification");
  EXPECT_EQ(file.metadata.at("model"), "vit");
  EXPECT_EQ(json::parse(file.metadata.at("config")), to_json(info.config));
  const json trainer = json::parse(file.metadata.at("trainer"));
  EXPECT_EQ(trainer.at("seed_state"), json::array({0xfedcba9876543210ull, 12345}));
  EXPECT_EQ(trainer.at("epoch"), 2);
  EXPECT_TRUE(file.contains("optimizer.step"));
  EXPECT_TRUE(file.contains("optimizer.exp_avg.blocks.1.mlp.fc2.bias"));
  EXPECT_TRUE(file.contains("blocks.1.mlp.fc2.bias"));

  // load_model rebuilds the model, in eval mode, with the same weights.
  LoadedModel m = load_model(path);
  EXPECT_FALSE(m.model->training());
  std::map<std::string, Tensor> reloaded;
  for (auto& [name, t] : m.model->state_dict()) reloaded[name] = t;
  expect_bit_identical(reloaded, want_model, "load_model");
  // Saving over an existing checkpoint replaces it.
  CheckpointInfo later = info;
  later.state.epoch = 3;
  save_checkpoint(path, model, later, {});
  EXPECT_EQ(load_checkpoint(path).info.state.epoch, 3);
  EXPECT_TRUE(load_checkpoint(path).optimizer.empty());
}

TEST_F(ImageClassifierTest, DamagedCheckpointsNameTheFile) {
  const CheckpointInfo info = sample_info();
  nn::VisionTransformer model(info.config.model, 3);
  const std::string path = out("ckpt.safetensors");
  save_checkpoint(path, model, info, {});
  const auto size = fs::file_size(path);

  const std::string truncated = out("truncated.safetensors");
  fs::copy_file(path, truncated);
  fs::resize_file(truncated, size - 100);
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(truncated); }), truncated);
  EXPECT_CONTAINS(error_of([&] { load_model(truncated); }), truncated);
  fs::resize_file(truncated, 5);  // not even the header length
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(truncated); }), truncated);
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(out("absent.safetensors")); }), out("absent.safetensors"));

  // A safetensors file that is not a heed checkpoint.
  const std::string plain = out("plain.safetensors");
  io::write_safetensors(plain, model.state_dict());
  const std::string e = error_of([&] { load_checkpoint(plain); });
  EXPECT_CONTAINS(e, plain);
  EXPECT_CONTAINS(e, "not a heed checkpoint");
  // Another format version.
  io::SafetensorsFile f = io::read_safetensors(path);
  f.metadata["format"] = "heed-checkpoint-2";
  const std::string future = out("future.safetensors");
  io::write_safetensors(future, f.tensors, f.metadata);
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(future); }), "unsupported checkpoint format 'heed-checkpoint-2'");
  // Metadata that is not JSON, or lacks a field.
  f = io::read_safetensors(path);
  f.metadata["trainer"] = "{not json";
  io::write_safetensors(future, f.tensors, f.metadata);
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(future); }), "not valid JSON");
  f = io::read_safetensors(path);
  json trainer = json::parse(f.metadata["trainer"]);
  trainer.erase("global_step");
  f.metadata["trainer"] = trainer.dump();
  io::write_safetensors(future, f.tensors, f.metadata);
  EXPECT_CONTAINS(error_of([&] { load_checkpoint(future); }), "'global_step'");
  // A tensor of the wrong shape names the file and the parameter.
  f = io::read_safetensors(path);
  for (auto& [name, t] : f.tensors)
    if (name == "pos_embed") t = Tensor::zeros({1, 3, 16});
  io::write_safetensors(future, f.tensors, f.metadata);
  const std::string shape_error = error_of([&] { load_model(future); });
  EXPECT_CONTAINS(shape_error, future);
  EXPECT_CONTAINS(shape_error, "'pos_embed'");
  // NaN or infinite payloads: weights and optimiser state are rejected, naming tensor and element.
  for (const std::string bad : {"head.bias", "optimizer.exp_avg.head.bias"}) {
    f = io::read_safetensors(path);
    Tensor poisoned = Tensor::zeros({4});
    poisoned.f32()[2] = bad == "head.bias" ? std::numeric_limits<float>::quiet_NaN()
                                           : -std::numeric_limits<float>::infinity();
    bool replaced = false;
    for (auto& [name, t] : f.tensors)
      if (name == bad) t = poisoned, replaced = true;
    if (!replaced) f.tensors.emplace_back(bad, poisoned);
    io::write_safetensors(future, f.tensors, f.metadata);
    const std::string payload_error = error_of([&] { load_checkpoint(future); });
    EXPECT_CONTAINS(payload_error, future);
    EXPECT_CONTAINS(payload_error, "'" + bad + "'");
    EXPECT_CONTAINS(payload_error, "element 2");
    EXPECT_CONTAINS(payload_error, bad == "head.bias" ? "nan" : "-inf");
  }
}

// ---------------------------------------------------------------- (g) divergence

TEST_F(ImageClassifierTest, NonFiniteLossStopsWithAnActionableError) {
  json j = base_config();
  j["train"]["lr"] = 1e30;
  j["train"]["min_lr"] = 0.0;
  j["train"]["warmup_epochs"] = 0;
  j["train"]["schedule"] = "constant";
  const std::string e = error_of([&] { train_image_classifier(parse_config(j), data(), out("diverged"), false); });
  EXPECT_CONTAINS(e, "loss became");
  EXPECT_CONTAINS(e, "epoch 1");
  EXPECT_CONTAINS(e, "No checkpoint was written yet");  // it diverges before the first epoch ends
  EXPECT_CONTAINS(e, "train.lr");
}

TEST_F(ImageClassifierTest, NonFiniteLossAfterACheckpointNamesItAndLeavesItIntact) {
  // One epoch (a tiny time limit stops the run after it) writes last.safetensors; then its
  // position embedding is set to 3e38, finite (so it loads) but overflowing LayerNorm's sums:
  // the resumed run's first loss is NaN. The error names the epoch and the checkpoint, and the
  // checkpoint on disk is not replaced by the diverged state.
  json j = base_config();
  j["train"]["time_limit_minutes"] = 1e-6;
  train_image_classifier(parse_config(j), data(), out("diverges"), false);
  const std::string last = out("diverges") + "/last.safetensors";
  io::SafetensorsFile f = io::read_safetensors(last);
  for (auto& [name, t] : f.tensors)
    if (name == "pos_embed") t = Tensor::full(t.shape(), 3e38f);
  io::write_safetensors(last, f.tensors, f.metadata);
  const std::string before = test::read_text(last);
  const std::string e = error_of([&] { train_image_classifier(parse_config(j), data(), out("diverges"), true); });
  EXPECT_CONTAINS(e, "loss became NaN");
  EXPECT_CONTAINS(e, "epoch 2, step 1");
  EXPECT_CONTAINS(e, last);
  EXPECT_EQ(test::read_text(last), before) << "the checkpoint was overwritten";
}

}  // namespace
}  // namespace heed::tasks
