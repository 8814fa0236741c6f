// heed bench vit: training and inference images/s of a ViT config on random images, so the
// comparison with PyTorch (bench/compare_pytorch.py vit) can be rerun by anyone.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "heed/core/parallel.h"
#include "heed/kernels/bf16.h"
#include "heed/ops/ops.h"
#include "heed/optim/adamw.h"
#include "heed/train/config_json.h"
#include "heed/train/data_parallel.h"
#include "heed/tasks/classification.h"
#include "heed/tasks/image_classification.h"

namespace heed::cli {

namespace {
struct VitBenchArgs {
  std::string config, checkpoint;
  int64_t batch = 0, image_size = 28, channels = 1, classes = 10, steps = 10;
  int threads = 0;
  bool json = false;
  bool int8 = false;       // also time inference after Module::quantize_int8, same run
  bool bf16 = false;       // also time inference after Module::convert_bf16, same run
  bool infer_only = false;  // skip the training steps (large models)
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void run(VitBenchArgs a) {
  HEED_CHECK(a.config.empty() != a.checkpoint.empty(), "bench vit: give --config or --checkpoint (one of them)");
  std::unique_ptr<nn::VisionTransformer> loaded;
  int64_t config_batch = 0;
  if (!a.checkpoint.empty()) {
    // A trained (or int8) checkpoint: inference only, at its own image shape.
    tasks::LoadedModel m = tasks::load_model(a.checkpoint);
    const nn::VitConfig& c = m.info.config.model;
    a.image_size = c.image_height;
    a.channels = c.channels;
    a.classes = c.num_classes;
    a.infer_only = true;
    config_batch = m.info.config.data.eval_batch_size;
    loaded = std::move(m.model);
    a.config = a.checkpoint;
  } else {
    tasks::ImageClassifierConfig config = tasks::parse_config(train::read_json_file(a.config));
    config.model.image_height = config.model.image_width = a.image_size;
    config.model.channels = a.channels;
    config.model.num_classes = a.classes;
    config_batch = config.train.batch_size;
    loaded = std::make_unique<nn::VisionTransformer>(config.model, 1);
  }
  if (a.threads > 0) set_num_threads(a.threads);
  nn::VisionTransformer& model = *loaded;
  const bool was_int8 = model.quantized();
  const int64_t batch = a.batch > 0 ? a.batch : config_batch;
  optim::AdamW optimizer(optim::make_params(model.named_parameters()));
  Rng rng(2);
  const Tensor x = Tensor::randn({batch, a.channels, a.image_size, a.image_size}, rng);
  Tensor y = Tensor::empty({batch}, DType::I64);
  for (int64_t i = 0; i < batch; ++i) y.i64()[i] = int64_t(rng.below(uint64_t(a.classes)));
  std::vector<double> train_s;
  // As `heed train` and `heed eval` run it: one replica per thread (train/data_parallel.h).
  train::DataParallel parallel(model, num_threads());
  const tasks::ClassificationTask task(tasks::kImageClassification,
                                       std::vector<std::string>(size_t(a.classes), "class"), 0.f);
  nn::Batch data;
  data.tensors = {{"images", x}, {"labels", y}};
  model.train();
  for (int64_t s = 0; s < (a.infer_only ? 0 : a.steps + 2); ++s) {  // two warm-up steps
    const auto t0 = std::chrono::steady_clock::now();
    parallel.train_step(data, task);
    optimizer.step();
    optimizer.zero_grad();
    if (s >= 2) train_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  model.eval();
  auto time_inference = [&] {
    std::vector<double> seconds;
    for (int64_t s = 0; s < a.steps + 2; ++s) {
      const auto t0 = std::chrono::steady_clock::now();
      parallel.predict(data);
      if (s >= 2) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    return double(batch) / median(seconds);
  };
  const double infer_ips = time_inference();  // an int8 checkpoint's own (int8) inference
  double int8_ips = 0, bf16_ips = 0;
  if (a.bf16 && !was_int8) {
    model.convert_bf16();
    bf16_ips = time_inference();
    model.drop_reduced_forms();
  }
  if (a.int8 && !was_int8) {
    model.quantize_int8();
    int8_ips = time_inference();
  }
  const double train_ips = train_s.empty() ? 0 : double(batch) / median(train_s);
  if (a.json) {
    nlohmann::json out{{"config", a.config}, {"batch", batch}, {"threads", num_threads()},
                       {"parameters", model.parameter_count()}, {"infer_images_per_s", infer_ips},
                       {"int8", was_int8}};
    if (!a.infer_only) out["train_images_per_s"] = train_ips;
    if (a.int8 && !was_int8) out["infer_int8_images_per_s"] = int8_ips;
    if (a.bf16 && !was_int8) out["infer_bf16_images_per_s"] = bf16_ips;
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("ViT %s (%ld parameters), batch %ld, %d threads: ", a.config.c_str(), long(model.parameter_count()),
                long(batch), num_threads());
    if (!a.infer_only) std::printf("train %.1f images/s, ", train_ips);
    std::printf("inference %.1f images/s%s\n", infer_ips, was_int8 ? " (int8: the checkpoint's own)" : "");
    if (a.int8 && !was_int8)
      std::printf("int8 inference %.1f images/s (%.2fx f32)\n", int8_ips, int8_ips / infer_ips);
    if (a.bf16 && !was_int8)
      std::printf("bf16 inference %.1f images/s (%.2fx f32; %s)\n", bf16_ips, bf16_ips / infer_ips,
                  kernels::bf16_native() ? "bf16 dot products" : "emulated: this CPU has no bf16 dot products");
  }
}
}  // namespace

void register_bench_vit(CLI::App& bench) {
  static VitBenchArgs a;
  auto* cmd = bench.add_subcommand("vit", "Training and inference images/s of a ViT config");
  cmd->add_option("--config", a.config, "JSON config (random weights)");
  cmd->add_option("--checkpoint", a.checkpoint, "or a trained checkpoint, f32 or int8 (inference only, its image "
                                                "shape; --int8 also times an f32 one quantised)");
  cmd->add_option("--batch", a.batch, "batch size (default: the config's)")->check(CLI::PositiveNumber);
  cmd->add_option("--image-size", a.image_size, "square image side")->check(CLI::PositiveNumber);
  cmd->add_option("--channels", a.channels)->check(CLI::PositiveNumber);
  cmd->add_option("--classes", a.classes)->check(CLI::PositiveNumber);
  cmd->add_option("--steps", a.steps, "timed steps (median reported)")->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads, "threads (default: OMP_NUM_THREADS or all cores)")->check(CLI::Range(1, 4096));
  cmd->add_flag("--json", a.json, "print JSON (train_images_per_s, infer_images_per_s)");
  cmd->add_flag("--int8", a.int8, "also time int8 inference (heed quantize's layers), same run");
  cmd->add_flag("--bf16", a.bf16, "also time bf16 inference (--dtype bf16's layers), same run");
  cmd->add_flag("--infer-only", a.infer_only, "time inference only (no training steps)");
  cmd->callback([] { run(a); });
}

}  // namespace heed::cli
