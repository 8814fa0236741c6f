// heed bench text: training and inference tokens/s of a text-classification config on the
// batches its training would see (the real training file, tokenised and length-bucketed as
// `heed train` does). --save-batches writes those batches (tokens, lengths, labels; for a
// windowed config, data.max_windows > 1, tokens [B, W, T] and lengths [B, W]) so that
// bench/compare_pytorch.py text times PyTorch on exactly the same padded shapes; --batches
// reads them back instead of preparing the data again.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <span>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/io/atomic_file.h"
#include "heed/optim/adamw.h"
#include "heed/optim/clip.h"
#include "heed/tasks/classification.h"
#include "heed/tasks/text_classification.h"
#include "heed/train/config_json.h"
#include "heed/train/data_parallel.h"

namespace heed::cli {

namespace {
using nlohmann::json;

struct TextBenchArgs {
  std::string config, save_batches, batches;
  int64_t count = 24;
  int threads = 0;
  bool json = false;
};

struct Batches {
  int64_t vocab_size = 0, classes = 0;
  std::vector<nn::Batch> batches;
};

// The first `count` training batches of epoch 0, as `heed train` would make them.
Batches prepare(const tasks::TextClassifierConfig& config, int64_t count) {
  const tasks::PreparedTextClassification run = tasks::prepare_text_classification(config);
  Batches out{run.tokenizer.vocab_size(), int64_t(run.config.data.class_names.size()), {}};
  const std::vector<std::vector<int64_t>> plan = run.train_plan->epoch(0);
  for (size_t b = 0; b < plan.size() && int64_t(b) < count; ++b)
    out.batches.push_back(run.train_data->batch(plan[b], {0, config.train.seed, true}));
  return out;
}

// An i64 tensor as nested JSON arrays, and back: tokens [B, T] and lengths [B], or, for windowed
// configs (data.max_windows > 1), tokens [B, W, T] and lengths [B, W].
json nested(const Tensor& t, int64_t axis = 0, int64_t offset = 0) {
  if (axis == t.dim()) return t.i64()[offset];
  json out = json::array();
  int64_t stride = 1;
  for (int64_t a = axis + 1; a < t.dim(); ++a) stride *= t.size(a);
  for (int64_t i = 0; i < t.size(axis); ++i) out.push_back(nested(t, axis + 1, offset + i * stride));
  return out;
}

// Rectangular nested arrays of integers -> an i64 tensor of that shape.
Tensor from_nested(const json& j, const char* what) {
  std::vector<int64_t> shape;
  for (const json* e = &j; e->is_array(); e = &(*e)[0]) {
    HEED_CHECK(!e->empty(), what, ": an empty array");
    shape.push_back(int64_t(e->size()));
  }
  std::vector<int64_t> flat;
  auto walk = [&](auto&& self, const json& e, size_t axis) -> void {
    if (axis == shape.size()) return flat.push_back(e.get<int64_t>());
    HEED_CHECK(e.is_array() && int64_t(e.size()) == shape[axis], what, ": not rectangular (axis ", axis, ")");
    for (const json& x : e) self(self, x, axis + 1);
  };
  walk(walk, j, 0);
  Tensor t = Tensor::empty(shape, DType::I64);
  std::copy(flat.begin(), flat.end(), t.i64());
  return t;
}

json to_json(const Batches& b) {
  json list = json::array();
  for (const nn::Batch& batch : b.batches)
    list.push_back({{"tokens", nested(batch.at("tokens"))},
                    {"lengths", nested(batch.at("lengths"))},
                    {"labels", nested(batch.at("labels"))}});
  return {{"vocab_size", b.vocab_size}, {"classes", b.classes}, {"batches", list}};
}

Batches from_json(const json& j, const std::string& path) {
  Batches out;
  try {
    out.vocab_size = j.at("vocab_size").get<int64_t>();
    out.classes = j.at("classes").get<int64_t>();
    for (const json& b : j.at("batches")) {
      nn::Batch batch;
      const Tensor tokens = from_nested(b.at("tokens"), "tokens"), lengths = from_nested(b.at("lengths"), "lengths"),
                   labels = from_nested(b.at("labels"), "labels");
      HEED_CHECK(tokens.dim() == 2 || tokens.dim() == 3, "tokens must be [rows, width] or [rows, windows, width], got ",
                 tokens.str());
      const int64_t width = tokens.size(tokens.dim() - 1);
      Shape row_shape(tokens.shape().begin(), tokens.shape().end() - 1);
      HEED_CHECK(lengths.shape() == row_shape, "lengths ", lengths.str(), " do not match tokens ", tokens.str());
      HEED_CHECK(labels.dim() == 1 && labels.size(0) == tokens.size(0), "labels ", labels.str(),
                 " do not match tokens ", tokens.str());
      for (int64_t i = 0; i < tokens.numel(); ++i)
        HEED_CHECK(tokens.i64()[i] >= 0 && tokens.i64()[i] < out.vocab_size, "token id ", tokens.i64()[i],
                   " outside the vocabulary");
      // A missing window (length 0) exists only in windowed batches; every record has a window.
      for (int64_t i = 0; i < lengths.numel(); ++i)
        HEED_CHECK(lengths.i64()[i] >= (tokens.dim() == 2 ? 1 : 0) && lengths.i64()[i] <= width, "length ",
                   lengths.i64()[i], " outside [", tokens.dim() == 2 ? 1 : 0, ", ", width, "]");
      for (int64_t i = 0; i < labels.numel(); ++i)
        HEED_CHECK(labels.i64()[i] >= 0 && labels.i64()[i] < out.classes, "label ", labels.i64()[i],
                   " outside [0, ", out.classes, ")");
      batch.tensors = {{"tokens", tokens}, {"lengths", lengths}, {"labels", labels}};
      out.batches.push_back(std::move(batch));
    }
  } catch (const json::exception& e) {
    detail::fail(path, ": not a batches file of heed bench text --save-batches: ", e.what());
  } catch (const Error& e) {
    detail::fail(path, ": ", e.what());
  }
  HEED_CHECK(!out.batches.empty(), path, ": no batches");
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run(const TextBenchArgs& a) {
  tasks::TextClassifierConfig config = tasks::parse_text_classifier_config(train::read_json_file(a.config));
  if (a.threads > 0) set_num_threads(a.threads);
  const Batches data = a.batches.empty() ? prepare(config, a.count)
                                         : from_json(train::read_json_file(a.batches), a.batches);
  if (!a.save_batches.empty()) {
    const std::string text = to_json(data).dump();
    io::write_file_atomic(a.save_batches, std::as_bytes(std::span(text.data(), text.size())));
  }
  config.model.encoder.vocab_size = data.vocab_size;
  config.model.encoder.num_classes = data.classes;
  config.model.encoder.validate();

  int64_t real = 0, padded = 0;
  // The forward's multiply-adds, for a rate to set against sgemm's: the linear layers over every
  // padded position, attention over every (query, unpadded key) pair. Training counts 3x.
  const nn::TextEncoderConfig& e = config.model.encoder;
  const double hidden = double(int64_t(double(e.dim) * e.mlp_ratio)), d = double(e.dim);
  double forward_flop = 0;
  for (const nn::Batch& b : data.batches) {
    // Rows of tokens: one per record, or one per window ([B, W, T], data.max_windows).
    const Tensor& tokens = b.at("tokens");
    const int64_t width = tokens.size(tokens.dim() - 1);
    padded += tokens.numel();
    for (int64_t r = 0; r < b.at("lengths").numel(); ++r) {
      const int64_t length = b.at("lengths").i64()[r];
      real += length;
      forward_flop += double(e.depth) * (2 * double(width) * (4 * d * d + 2 * d * hidden) +
                                         4 * double(width) * double(length) * d);
    }
  }
  nn::TextClassifier model(config.model.encoder, 1);
  optim::AdamW optimizer(optim::make_params(model.named_parameters()));
  train::DataParallel parallel(model, config.train.replicas > 0 ? config.train.replicas : num_threads());
  const tasks::ClassificationTask task(tasks::kTextClassification,
                                       std::vector<std::string>(size_t(data.classes), "class"), 0.f);
  // As the trainer steps: forward and backward over the replicas, clipping, AdamW.
  auto train_step = [&](const nn::Batch& b) {
    parallel.train_step(b, task);
    if (config.train.clip_grad_norm > 0) optim::clip_grad_norm(optimizer.params(), config.train.clip_grad_norm);
    optimizer.step();
    optimizer.zero_grad();
  };
  model.train();
  for (size_t i = 0; i < std::min<size_t>(2, data.batches.size()); ++i) train_step(data.batches[i]);  // warm-up
  auto t0 = std::chrono::steady_clock::now();
  for (const nn::Batch& b : data.batches) train_step(b);
  const double train_s = seconds_since(t0);
  model.eval();
  for (size_t i = 0; i < std::min<size_t>(2, data.batches.size()); ++i) parallel.predict(data.batches[i]);
  t0 = std::chrono::steady_clock::now();
  for (const nn::Batch& b : data.batches) parallel.predict(b);
  const double infer_s = seconds_since(t0);

  const double overhead = double(padded) / double(real) - 1;
  if (a.json) {
    std::printf("%s\n", json{{"config", a.config}, {"batches", data.batches.size()}, {"threads", num_threads()},
                             {"parameters", model.parameter_count()}, {"real_tokens", real},
                             {"padded_tokens", padded}, {"padding_overhead", overhead},
                             {"train_tokens_per_s", double(real) / train_s},
                             {"infer_tokens_per_s", double(real) / infer_s},
                             {"train_seconds", train_s}, {"infer_seconds", infer_s},
                             {"train_gflops", 3 * forward_flop / train_s * 1e-9},
                             {"infer_gflops", forward_flop / infer_s * 1e-9}}.dump().c_str());
    return;
  }
  std::printf("text classifier %s (%ld parameters), %zu batches, %ld tokens (padding overhead %.1f%%), %d threads: "
              "train %.0f tokens/s (%.0f GFLOP/s), inference %.0f tokens/s (%.0f GFLOP/s)\n",
              a.config.c_str(), long(model.parameter_count()), data.batches.size(), long(real), 100 * overhead,
              num_threads(), double(real) / train_s, 3 * forward_flop / train_s * 1e-9, double(real) / infer_s,
              forward_flop / infer_s * 1e-9);
}
}  // namespace

void register_bench_text(CLI::App& bench) {
  static TextBenchArgs a;
  auto* cmd = bench.add_subcommand("text", "Training and inference tokens/s of a text-classification config");
  cmd->add_option("--config", a.config, "JSON config (its data.train is read and tokenised)")->required();
  cmd->add_option("--count", a.count, "training batches of epoch 0 to time")->check(CLI::PositiveNumber);
  cmd->add_option("--save-batches", a.save_batches, "write the batches (tokens, lengths, labels) as JSON");
  cmd->add_option("--batches", a.batches, "time the batches of a --save-batches file instead");
  cmd->add_option("--threads", a.threads, "threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 4096));
  cmd->add_flag("--json", a.json, "print JSON (train_tokens_per_s, infer_tokens_per_s, padding_overhead)");
  cmd->callback([] { run(a); });
}

}  // namespace heed::cli
