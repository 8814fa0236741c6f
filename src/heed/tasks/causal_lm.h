// Causal language modelling (GPT's objective) as a task on the one trainer: unlabelled text
// (JSONL/CSV/TSV fields, or .txt with one document a line), each document [CLS] pieces [SEP]
// cut to data.max_tokens, the next token predicted at every position by the tied embedding;
// cross-entropy over every predicted token; selection by validation perplexity. `heed generate`
// continues a prompt with the KV cache (nn/generation.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/nn/generation.h"
#include "heed/nn/models/text_encoder.h"
#include "heed/tasks/registry.h"
#include "heed/tasks/text_data.h"
#include "heed/train/options.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

inline constexpr const char* kCausalLm = "causal-lm";

struct CausalLmData {
  TextInputOptions input;
  std::vector<std::string> extra_train;  // more unlabelled files, read like data.train
};

template <class V>
void visit(V& v, CausalLmData& d) {
  using namespace train::rule;
  visit(v, d.input);
  v("extra_train", d.extra_train, neutral());
}

struct CausalLmConfig {
  nn::TextEncoderConfig model;
  train::TrainOptions train;
  CausalLmData data;
};

CausalLmConfig parse_causal_lm_config(const nlohmann::json& json);
nlohmann::json to_json(const CausalLmConfig& config);

// Token sequences as right-padded batches with "targets" [B, T]: the token at p + 1 for every
// p < length - 1, -100 elsewhere (the last position and padding).
class CausalLmDataset : public TextDataset {
 public:
  using TextDataset::TextDataset;
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;
};

// Cross-entropy over every next token; the metric is the validation perplexity (lower is better);
// eval also reports the next-token accuracy.
class CausalLmTask : public train::Task {
 public:
  explicit CausalLmTask(float label_smoothing = 0.f) : label_smoothing_(label_smoothing) {}  // train.label_smoothing
  std::string name() const override { return kCausalLm; }
  std::string metric_name() const override { return "perplexity"; }
  bool higher_is_better() const override { return false; }
  double target_weight(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

 private:
  float label_smoothing_;
};

train::TrainResult train_causal_lm(const CausalLmConfig& config, const std::string& out_dir, bool resume);

const TaskEntry& causal_lm_entry();

// `heed generate`: a prompt continued by a causal-LM checkpoint, tokens streamed to stdout.
struct GenerateCommand {
  train::Checkpoint checkpoint;
  std::string prompt;
  nn::GenerateOptions options;
  int64_t beam = 1;             // > 1: beam search (options.max_tokens, use_cache, max_memory apply)
  double length_penalty = 1.0;  // beam search's
  bool json = false;  // one JSON object at the end instead of streamed text
};
void generate(const GenerateCommand& command);

}  // namespace heed::tasks
