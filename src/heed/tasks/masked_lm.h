// Masked-language-model pre-training (BERT's objective) as a task on the one trainer: unlabelled
// text (JSONL/CSV/TSV fields, or .txt with one document a line), 15% of the tokens chosen, of
// which 80% become [MASK], 10% a random piece, 10% stay; cross-entropy at the chosen positions.
// A text classifier starts from the encoder with train.init_from (same parameter names; the
// tokenizer comes along).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/nn/models/text_encoder.h"
#include "heed/tasks/registry.h"
#include "heed/tasks/text_data.h"
#include "heed/train/options.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

inline constexpr const char* kMaskedLm = "masked-lm";

struct MaskedLmData {
  TextInputOptions input;
  std::vector<std::string> extra_train;  // more unlabelled files, read like data.train
  double mask_probability = 0.15;
};

template <class V>
void visit(V& v, MaskedLmData& d) {
  using namespace train::rule;
  visit(v, d.input);
  v("extra_train", d.extra_train, neutral());
  v("mask_probability", d.mask_probability, between(0, 1));
}

struct MaskedLmConfig {
  nn::TextEncoderConfig model;
  train::TrainOptions train;
  MaskedLmData data;
};

MaskedLmConfig parse_masked_lm_config(const nlohmann::json& json);
nlohmann::json to_json(const MaskedLmConfig& config);

// Token sequences whose batches are masked as BERT does, as a pure function of (seed, epoch,
// sample index, position): "tokens" with the replacements, "mlm_labels" [B, T] holding the
// original id at chosen positions and -100 elsewhere. Evaluation batches (context.training
// false) use one fixed masking, the same in every epoch.
class MaskedLmDataset : public TextDataset {
 public:
  MaskedLmDataset(std::vector<std::vector<int32_t>> sequences, int64_t vocab_size, double mask_probability,
                  int64_t max_len);
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;

 private:
  int64_t vocab_size_, max_len_;
  double probability_;
};

// The task: cross-entropy over the masked positions; the metric is the masked-token accuracy.
class MaskedLmTask : public train::Task {
 public:
  explicit MaskedLmTask(float label_smoothing = 0.f) : label_smoothing_(label_smoothing) {}  // train.label_smoothing
  std::string name() const override { return kMaskedLm; }
  std::string metric_name() const override { return "masked_accuracy"; }
  double target_weight(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

 private:
  float label_smoothing_;
};

train::TrainResult train_masked_lm(const MaskedLmConfig& config, const std::string& out_dir, bool resume);

const TaskEntry& masked_lm_entry();

}  // namespace heed::tasks
