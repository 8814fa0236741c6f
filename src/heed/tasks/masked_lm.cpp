#include "heed/train/resources.h"
#include "heed/tasks/masked_lm.h"
#include "heed/tasks/language_model.h"
#include "heed/tasks/next_token.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/data/loader.h"
#include "heed/metrics/ranking.h"
#include "heed/ops/ops.h"
#include "heed/train/config_json.h"

namespace heed::tasks {

using nlohmann::json;

MaskedLmConfig parse_masked_lm_config(const json& j) {
  const MaskedLmConfig c = train::read_task_config<MaskedLmConfig>(j, kMaskedLm);
  check_lengths(c.data.input, c.model.max_len);
  return c;
}

namespace {
json config_json(const MaskedLmConfig& c, bool result_only) {
  return train::task_config_json(kMaskedLm, c, result_only);
}
}  // namespace

json to_json(const MaskedLmConfig& c) { return config_json(c, false); }

// ---------------------------------------------------------------- data and task

MaskedLmDataset::MaskedLmDataset(std::vector<std::vector<int32_t>> sequences, int64_t vocab_size,
                                 double mask_probability, int64_t max_len)
    : TextDataset(std::move(sequences), {}), vocab_size_(vocab_size), max_len_(max_len),
      probability_(mask_probability) {
  HEED_CHECK(vocab_size > data::Tokenizer::kMask + 1, "masked LM: a vocabulary of ", vocab_size, " pieces has none to "
             "mask besides the special ones");
}

nn::Batch MaskedLmDataset::batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const {
  nn::Batch out = TextDataset::batch(indices, context);
  Tensor& tokens = out.tensors.at("tokens");
  const int64_t b = tokens.size(0), t = tokens.size(1);
  Tensor labels = Tensor::full({b, t}, -100.f);
  Tensor ilabels = Tensor::empty({b, t}, DType::I64);
  std::fill(ilabels.i64(), ilabels.i64() + b * t, int64_t{-100});
  // Evaluation uses one fixed masking: an epoch no training run reaches.
  const uint64_t epoch = context.training ? uint64_t(context.epoch) : ~uint64_t{0} >> 8;
  const uint64_t seed = context.seed ^ 0x6d6c6d6d61736b73ull;  // "mlmmasks": not the augmentation's stream
  const int64_t special = data::Tokenizer::kMask + 1;
  for (int64_t r = 0; r < b; ++r) {
    const uint64_t sample = epoch * uint64_t(size()) + uint64_t(indices[size_t(r)]);
    const int64_t length = out.tensors.at("lengths").i64()[r];
    for (int64_t p = 0; p < length; ++p) {
      int64_t& token = tokens.i64()[r * t + p];
      if (token < special) continue;  // [CLS], [SEP], padding and <unk> are never chosen
      const uint64_t key = (sample * uint64_t(max_len_) + uint64_t(p)) * 4;
      if (random_uniform(seed, key) >= probability_) continue;
      ilabels.i64()[r * t + p] = token;
      const float what = random_uniform(seed, key + 1);
      if (what < 0.8f)
        token = data::Tokenizer::kMask;
      else if (what < 0.9f)
        token = special + int64_t(random_bits(seed, key + 2) % uint64_t(vocab_size_ - special));
    }
  }
  out.tensors["mlm_labels"] = ilabels;
  return out;
}

double MaskedLmTask::target_weight(const nn::Batch& batch) const {
  const Tensor& labels = batch.at("mlm_labels");
  int64_t n = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) n += labels.i64()[i] != -100;
  return n;
}

Var MaskedLmTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  return output_cross_entropy(output, next_token_targets(batch.at("mlm_labels")), label_smoothing_);
}

std::unique_ptr<train::Evaluator> MaskedLmTask::evaluator() const {
  return next_token_evaluator({"mlm_labels", "masked_tokens", "masked_accuracy", "masked tokens", true});
}

// ---------------------------------------------------------------- training

namespace {
std::vector<int64_t> iota_of(size_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

train::TrainResult train_masked_lm(const MaskedLmConfig& config, const std::string& out_dir, bool resume) {
  const MaskedLmTask task(config.train.label_smoothing);
  auto make = [](std::vector<std::vector<int32_t>> sequences, int64_t vocab, const MaskedLmConfig& c) {
    return MaskedLmDataset(std::move(sequences), vocab, c.data.mask_probability, c.model.max_len);
  };
  return train_language_model<nn::MaskedLanguageModel>(config, {kMaskedLm, "masked LM", false, true, &task}, make,
                                                       config_json, parse_masked_lm_config, out_dir, resume);
}

// ---------------------------------------------------------------- commands

namespace {
using LoadedMlm = LoadedText<nn::MaskedLanguageModel, MaskedLmConfig>;

LoadedMlm load_mlm(const train::Checkpoint& ckpt) {
  auto parse = [](const json& j) { return parse_masked_lm_config(j); };
  return load_text_checkpoint<nn::MaskedLanguageModel, MaskedLmConfig>(ckpt, kMaskedLm, parse);
}

int train_command(const TrainCommand& cmd) {
  auto parse = [](const json& j) { return parse_masked_lm_config(j); };
  return run_text_training(cmd, parse, train_masked_lm, "masked-token accuracy");
}

// The documents of `path` in the checkpoint's pieces, with evaluation's one fixed masking.
MaskedLmDataset read_documents(const LoadedMlm& m, const std::string& path) {
  const Texts texts = read_corpus({path}, m.config.data.input);
  std::vector<std::vector<int32_t>> seqs;
  for (const auto& f : texts.fields) seqs.push_back(encode_fields(m.tokenizer, f, m.config.data.input));
  return MaskedLmDataset(seqs, m.tokenizer.vocab_size(), m.config.data.mask_probability, m.config.model.max_len);
}

train::ShuffledBatches in_order(const LoadedMlm& m, const MaskedLmDataset& data) {
  return train::ShuffledBatches(iota_of(size_t(data.size())), m.config.data.input.eval_batch_size, false, false, 0);
}

// eval's default data: the validation file, else the test file.
std::string held_out_path(const LoadedMlm& m, const train::Checkpoint& checkpoint) {
  const TextInputOptions& in = m.config.data.input;
  const std::string path = !in.validation.empty() ? in.validation : in.test;
  HEED_CHECK(!path.empty(), checkpoint.path, ": no data.validation or data.test in its config; give --data FILE");
  return path;
}

void eval_command(const EvalCommand& cmd) {
  LoadedMlm m = load_mlm(cmd.checkpoint);
  const std::string path = cmd.data.empty() ? held_out_path(m, cmd.checkpoint) : cmd.data;
  const MaskedLmDataset data = read_documents(m, path);
  const train::EvalResult e = train::evaluate(*m.model, MaskedLmTask(), data, in_order(m, data));
  if (cmd.json) {
    json out = e.json;
    out["checkpoint"] = cmd.checkpoint.path;
    out["data"] = path;
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s", e.text.c_str());
  }
}

// Fill-mask: "[MASK]" in the text stands for the mask piece; prints the top pieces at each.
void predict_command(const PredictCommand& cmd) {
  HEED_CHECK(!cmd.text.empty() && cmd.input.empty(), "predict: a masked LM takes --text with [MASK] where pieces "
             "are to be guessed");
  LoadedMlm m = load_mlm(cmd.checkpoint);
  std::vector<int32_t> ids = {data::Tokenizer::kCls};
  const std::string text = data::valid_utf8(cmd.text);
  size_t start = 0;
  while (true) {
    const size_t at = text.find("[MASK]", start);
    const std::vector<int32_t> part = m.tokenizer.encode(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    ids.insert(ids.end(), part.begin(), part.end());
    if (at == std::string::npos) break;
    ids.push_back(data::Tokenizer::kMask);
    start = at + 6;
  }
  HEED_CHECK(int64_t(ids.size()) <= m.config.model.max_len, "predict: ", ids.size(), " tokens, more than model.max_len = ",
             m.config.model.max_len);
  nn::Batch batch;
  const int64_t t = int64_t(ids.size());
  Tensor tokens = Tensor::empty({1, t}, DType::I64), labels = Tensor::empty({1, t}, DType::I64);
  int64_t masks = 0;
  for (int64_t i = 0; i < t; ++i) {
    tokens.i64()[i] = ids[size_t(i)];
    labels.i64()[i] = ids[size_t(i)] == data::Tokenizer::kMask ? (++masks, 0) : -100;
  }
  HEED_CHECK(masks > 0, "predict: the text has no [MASK]");
  batch.tensors = {{"tokens", tokens}, {"lengths", Tensor::from_indices({1}, {t})}, {"mlm_labels", labels}};
  NoGradGuard no_grad;
  const Tensor probs = softmax(m.model->forward(batch).logits).value();
  const int64_t v = probs.size(1), k = std::min<int64_t>(cmd.top_k, v);
  json out = json::array();
  for (int64_t i = 0; i < masks; ++i) {
    const float* p = probs.f32() + i * v;
    const std::vector<int64_t> order = metrics::top_k(p, v, k);
    json top = json::array();
    if (!cmd.json) std::printf("[MASK] %ld:", long(i + 1));
    for (int64_t j = 0; j < k; ++j) {
      const int32_t id = int32_t(order[size_t(j)]);
      top.push_back({{"id", id}, {"piece", m.tokenizer.piece(id)}, {"probability", p[id]}});
      if (!cmd.json) std::printf("  %s %.4f", m.tokenizer.piece(id).c_str(), double(p[id]));
    }
    if (!cmd.json) std::printf("\n");
    out.push_back(top);
  }
  if (cmd.json) std::printf("%s\n", json{{"masks", out}}.dump().c_str());
}
}  // namespace

namespace {
std::unique_ptr<nn::Module> module_of(const train::Checkpoint& checkpoint) {
  return load_mlm(checkpoint).model;
}

// heed prune: the loss is the masked-token cross-entropy under evaluation's fixed masking, the
// curve's metric the masked-token accuracy; "train" is data.train, "test" eval's default.
PruneSubject prune_subject(const train::Checkpoint& checkpoint, const std::string& data, const std::string& split) {
  LoadedMlm m = load_mlm(checkpoint);
  const std::string path = prune_data_path(data, split, m.config.data.input.train,
                                           [&] { return held_out_path(m, checkpoint); }, "a masked LM",
                                           "data.validation, else data.test");
  auto documents = std::make_unique<MaskedLmDataset>(read_documents(m, path));
  train::ShuffledBatches plan = in_order(m, *documents);
  return prune_subject_of(std::move(m.model), std::make_unique<MaskedLmTask>(), std::move(documents), std::move(plan));
}
}  // namespace

const TaskEntry& masked_lm_entry() {
  static const TaskEntry entry{kMaskedLm, "masked-language-model pre-training of a text encoder", train_command,
                               eval_command, predict_command, nullptr, false, false, module_of,
                               prune_subject};
  return entry;
}

}  // namespace heed::tasks
