// Text classification (the article's spam / sentiment use) as a task on the one trainer: text
// records (JSONL, CSV, TSV) with one or more text fields and a label field, a SentencePiece
// tokenizer, a Transformer text encoder with a classification head, cross-entropy, the
// classification report.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/nn/models/text_encoder.h"
#include "heed/tasks/registry.h"
#include "heed/tasks/text_data.h"
#include "heed/train/options.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

inline constexpr const char* kTextClassification = "text-classification";

struct TextClassifierModel {
  nn::TextEncoderConfig encoder;  // vocab_size from the tokenizer, num_classes from the data
};

template <class V>
void visit(V& v, TextClassifierModel& m) {
  using namespace train::rule;
  visit(v, m.encoder);
  v("pooling", m.encoder.pooling, one_of({"cls", "mean"}));
  v("num_classes", m.encoder.num_classes, positive());
}

struct TextClassificationData {
  TextInputOptions input;
  std::string label_field = "label";
  std::vector<std::string> class_names;  // default: the training labels, sorted
  std::string select_metric = "accuracy";  // accuracy | macro_f1 | f1:<class>: what best keeps
  // A seeded part of the training records (after the validation split, which stays whole): for
  // learning curves, e.g. what pre-training buys with 10% of the labels.
  double train_fraction = 1.0;
  double token_dropout = 0.0;  // training tokens replaced by [MASK] with this probability
  // Cross-entropy class weights (PyTorch's `weight`): "balanced" fills class_weights with
  // scikit-learn's n / (classes * count) from the training labels unless they are given.
  std::string class_weight = "none";
  std::vector<double> class_weights;
};

template <class V>
void visit(V& v, TextClassificationData& d) {
  using namespace train::rule;
  visit(v, d.input);
  v("label_field", d.label_field, non_empty());
  v("class_names", d.class_names);
  v("select_metric", d.select_metric, non_empty());
  v("train_fraction", d.train_fraction, range(0, 1, true, false));
  v("token_dropout", d.token_dropout, in(0, 1, true));
  v("class_weight", d.class_weight, one_of({"none", "balanced"}));
  v("class_weights", d.class_weights, non_negative());
}

struct TextClassifierConfig {
  TextClassifierModel model;
  train::TrainOptions train;
  TextClassificationData data;
};

TextClassifierConfig parse_text_classifier_config(const nlohmann::json& json);
nlohmann::json to_json(const TextClassifierConfig& config);

// A trained text classifier, rebuilt from its checkpoint.
struct LoadedTextClassifier {
  std::unique_ptr<nn::TextClassifier> model;
  TextClassifierConfig config;
  data::Tokenizer tokenizer;
};
LoadedTextClassifier load_text_classifier(const train::Checkpoint& checkpoint);

// What a run trains on, read, checked and tokenised as `heed train` does it: the config with
// the data's class names and the tokenizer's vocabulary filled in, the tokenizer (trained on the
// training part unless given), the training and validation sets and the training plan.
struct PreparedTextClassification {
  TextClassifierConfig config;
  data::Tokenizer tokenizer;
  std::unique_ptr<TextDataset> train_data, validation_data;
  std::unique_ptr<train::BatchPlan> train_plan;
};
PreparedTextClassification prepare_text_classification(const TextClassifierConfig& config);

// Trains on data.train (minus the validation split unless data.validation is given); writes
// <out_dir>/{last,best}.safetensors and metrics.jsonl.
train::TrainResult train_text_classifier(const TextClassifierConfig& config, const std::string& out_dir,
                                         bool resume);

// The labelled records of `path` evaluated with a loaded classifier (eval batches sorted by
// length), and with what the records needed (cut fields, invalid UTF-8) reported on stderr.
train::EvalResult evaluate_text_file(LoadedTextClassifier& m, const std::string& path, int replicas = 0);

// The records of `texts` (all of them, or those of `which`) tokenised as the classifier's input
// settings say: one sequence each, or windows (data.max_windows > 1).
std::unique_ptr<TextDataset> encode_dataset(const data::Tokenizer& tokenizer, const Texts& texts,
                                            const std::vector<int64_t>& which, const TextInputOptions& options,
                                            std::vector<int64_t> labels, double token_dropout = 0);

// The class probabilities [records, classes] the classifier gives each record of `data`, in order.
Tensor class_probabilities(LoadedTextClassifier& m, const TextDataset& data);

// The labelled records of `path` evaluated with the ensemble of `members`: each tokenises the
// texts with its own tokenizer, and the ensemble's prediction is the mean of their class
// probabilities (its loss: the cross-entropy of that mean). The members must share their class
// names; the report, metric and JSON are the single model's (class weights: the first member's).
train::EvalResult evaluate_text_ensemble(std::vector<LoadedTextClassifier>& members, const std::string& path);

const TaskEntry& text_classification_entry();

}  // namespace heed::tasks
