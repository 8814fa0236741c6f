#include "heed/train/checkpoint.h"

#include <cmath>
#include <cstdio>
#include <set>

#include "heed/io/json_limits.h"
#include "heed/io/safetensors.h"
#include "heed/train/config_json.h"

namespace heed::train {

using nlohmann::json;

namespace {
constexpr const char* kOptimizerPrefix = "optimizer.";

json trainer_json(const CheckpointMeta& meta) {
  json j = meta.trainer_extras.is_object() ? meta.trainer_extras : json::object();
  const TrainerState& s = meta.state;
  j["epoch"] = s.epoch;
  j["batch"] = s.batch;
  j["global_step"] = s.global_step;
  j["best_metric"] = s.has_best ? json(s.best_metric) : json(nullptr);
  j["seed_state"] = {s.seed_state.first, s.seed_state.second};
  j["epoch_loss_sum"] = s.epoch_loss_sum;
  j["epoch_loss_count"] = s.epoch_loss_count;
  return j;
}

template <class T>
T field(const json& j, const char* key, const std::string& path) {
  HEED_CHECK(j.contains(key), path, ": checkpoint metadata 'trainer' lacks '", key, "'");
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    detail::fail(path, ": checkpoint metadata 'trainer' field '", key, "' has the wrong type: ", e.what());
  }
}

json parse_metadata_json(const std::string& text, const std::string& path, const char* key) {
  const std::string what = std::string("metadata '") + key + "'";
  io::check_json_depth(text, kMaxConfigDepth, path, what.c_str());
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    detail::fail(path, ": checkpoint metadata '", key, "' is not valid JSON: ", e.what());
  }
}
}  // namespace

void write_checkpoint(const std::string& path, nn::Module& model, const CheckpointMeta& meta,
                      const std::vector<std::pair<std::string, Tensor>>& optimizer_state) {
  // A quantised model stores its int8 weights as I8 with their scales, a bf16 model its bf16
  // weights as BF16 (docs/checkpoint-format.md).
  const bool int8 = model.quantized();
  std::vector<std::pair<std::string, Tensor>> tensors = int8 ? model.int8_state_dict() : model.state_dict();
  io::NarrowStorage narrow;
  for (size_t i = 0; int8 && i + 1 < tensors.size(); ++i)
    if (tensors[i].second.dtype() == DType::I64 && tensors[i + 1].first == tensors[i].first + nn::kInt8ScaleSuffix)
      narrow.i8.insert(tensors[i].first);
  if (!int8)
    for (const std::string& name : model.bf16_parameters()) narrow.bf16.insert(name);
  for (const auto& [name, t] : optimizer_state) tensors.emplace_back(kOptimizerPrefix + name, t);
  std::map<std::string, std::string> metadata = meta.extra;
  metadata["format"] = kCheckpointFormat;
  metadata["task"] = meta.task;
  metadata["model"] = meta.model;
  metadata["config"] = meta.config.dump();
  metadata["trainer"] = trainer_json(meta).dump();
  io::write_safetensors(path, tensors, metadata, narrow);
}

Checkpoint read_checkpoint(const std::string& path) {
  io::SafetensorsFile file = io::read_safetensors(path);
  if (!file.checksummed)  // older heed, or converted by a tool: loads, but cannot be verified
    std::fprintf(stderr, "heed: notice: %s has no checksums (written by an older heed or converted "
                 "from another framework); its data cannot be verified\n", path.c_str());
  auto meta = [&](const char* key) {
    auto it = file.metadata.find(key);
    HEED_CHECK(it != file.metadata.end(), path, ": not a heed checkpoint (metadata '", key, "' missing)");
    return it->second;
  };
  HEED_CHECK(meta("format") == kCheckpointFormat, path, ": unsupported checkpoint format '",
             meta("format"), "' (this heed reads ", kCheckpointFormat, ")");
  Checkpoint out;
  out.path = path;
  out.meta.config = parse_metadata_json(meta("config"), path, "config");
  HEED_CHECK(out.meta.config.is_object(), path, ": checkpoint metadata 'config' is not an object");
  json trainer = parse_metadata_json(meta("trainer"), path, "trainer");
  HEED_CHECK(trainer.is_object(), path, ": checkpoint metadata 'trainer' is not an object");
  TrainerState& s = out.meta.state;
  s.epoch = field<int64_t>(trainer, "epoch", path);
  s.batch = field<int64_t>(trainer, "batch", path);
  s.global_step = field<int64_t>(trainer, "global_step", path);
  HEED_CHECK(s.epoch >= 0 && s.batch >= 0 && s.global_step >= 0, path,
             ": checkpoint metadata 'trainer' has a negative epoch, batch or step");
  // "best_val_accuracy" is what files written before the trainer served other tasks call it.
  const char* best_key = trainer.contains("best_metric") ? "best_metric" : "best_val_accuracy";
  if (trainer.contains(best_key) && !trainer.at(best_key).is_null()) {
    s.best_metric = field<double>(trainer, best_key, path);
    s.has_best = !(best_key == std::string("best_val_accuracy") && s.best_metric < 0);
  }
  const auto seeds = field<std::vector<uint64_t>>(trainer, "seed_state", path);
  HEED_CHECK(seeds.size() == 2, path, ": checkpoint metadata 'seed_state' must hold 2 numbers");
  s.seed_state = {seeds[0], seeds[1]};
  // Absent from files written before they existed: a resumed epoch then logs its remainder.
  if (trainer.contains("epoch_loss_sum")) s.epoch_loss_sum = field<double>(trainer, "epoch_loss_sum", path);
  if (trainer.contains("epoch_loss_count")) s.epoch_loss_count = field<int64_t>(trainer, "epoch_loss_count", path);
  HEED_CHECK(std::isfinite(s.epoch_loss_sum) && s.epoch_loss_count >= 0 && s.epoch_loss_count <= s.batch,
             path, ": checkpoint metadata 'trainer' has an impossible epoch loss (", s.epoch_loss_sum, " over ",
             s.epoch_loss_count, " steps)");
  for (const char* key : {"epoch", "batch", "global_step", "best_metric", "best_val_accuracy", "seed_state",
                          "epoch_loss_sum", "epoch_loss_count"})
    trainer.erase(key);
  out.meta.trainer_extras = trainer;
  for (const auto& [key, value] : file.metadata)
    if (key != "format" && key != "task" && key != "model" && key != "config" && key != "trainer")
      out.meta.extra[key] = value;
  out.meta.task = file.metadata.count("task") ? file.metadata.at("task") : "image-classification";
  out.meta.model = file.metadata.count("model") ? file.metadata.at("model") : "";
  for (auto& [name, t] : file.tensors) {
    // A NaN or infinite weight would give NaN logits and silently wrong predictions; heed never
    // saves one (training stops at a non-finite loss), so the file is damaged or diverged.
    if (t.dtype() == DType::F32) {
      const float* p = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i)
        HEED_CHECK(std::isfinite(p[i]), path, ": tensor '", name, "' holds ", p[i], " at element ", i,
                   " (a damaged or diverged checkpoint)");
    }
    if (name.rfind(kOptimizerPrefix, 0) == 0)
      out.optimizer[name.substr(std::string(kOptimizerPrefix).size())] = t;
    else
      out.model[name] = t;
  }
  return out;
}

std::string checkpoint_task(const Checkpoint& checkpoint) { return checkpoint.meta.task; }

ComputeDtype parse_compute_dtype(const std::string& value, const std::string& what) {
  if (value == "f32" || value == "float32") return ComputeDtype::F32;
  if (value == "bf16" || value == "bfloat16") return ComputeDtype::BF16;
  detail::fail(what, ": '", value, "' is not a compute dtype (f32 or bf16)");
}

bool stored_bf16(const Checkpoint& checkpoint) {
  const auto it = checkpoint.meta.extra.find(kQuantizationKey);
  if (it == checkpoint.meta.extra.end()) return false;
  const json q = json::parse(it->second, nullptr, false);
  return q.is_object() && q.value("scheme", "") == "bf16";
}

void load_for_inference(nn::Module& model, const Checkpoint& checkpoint) {
  try {
    model.load_state_dict(checkpoint.model);
    // The BF16 values were read widened to f32; converting rounds each to itself, so the model is
    // bit for bit the f32 checkpoint's under --dtype bf16.
    if (checkpoint.compute == ComputeDtype::BF16 || stored_bf16(checkpoint)) model.convert_bf16();
  } catch (const Error& e) {
    detail::fail(checkpoint.path, ": ", e.what());
  }
  model.eval();
}

}  // namespace heed::train
