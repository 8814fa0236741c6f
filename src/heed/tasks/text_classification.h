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
};

template <class V>
void visit(V& v, TextClassificationData& d) {
  using namespace train::rule;
  visit(v, d.input);
  v("label_field", d.label_field, non_empty());
  v("class_names", d.class_names);
  v("select_metric", d.select_metric, non_empty());
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

// Trains on data.train (minus the validation split unless data.validation is given); writes
// <out_dir>/{last,best}.safetensors and metrics.jsonl.
train::TrainResult train_text_classifier(const TextClassifierConfig& config, const std::string& out_dir,
                                         bool resume);

// The labelled records of `path` evaluated with a loaded classifier (eval batches sorted by
// length), and with what the records needed (cut fields, invalid UTF-8) reported on stderr.
train::EvalResult evaluate_text_file(LoadedTextClassifier& m, const std::string& path, int replicas = 0);

const TaskEntry& text_classification_entry();

}  // namespace heed::tasks
