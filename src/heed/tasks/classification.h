// The task shared by every classifier (images, text): cross-entropy with label smoothing and
// optional class weights (PyTorch's `weight`) over batch "labels" (class indices; -100 is
// ignored), evaluated with scikit-learn's
// classification report and a confusion matrix. The model-selection metric is the accuracy,
// the macro F1 or one class's F1 ("f1:spam").
#pragma once

#include <string>
#include <vector>

#include "heed/metrics/classification.h"
#include "heed/ops/ops.h"
#include "heed/train/task.h"

namespace heed::tasks {

class ClassificationTask : public train::Task {
 public:
  // `select`: "accuracy" | "macro_f1" | "f1:<class name>" (checked against class_names).
  // `class_weights`: empty, or one finite weight >= 0 per class.
  ClassificationTask(std::string name, std::vector<std::string> class_names, float label_smoothing,
                     std::string select = "accuracy", std::vector<float> class_weights = {});
  std::string name() const override { return name_; }
  std::string metric_name() const override { return metric_name_; }
  double target_weight(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

  // The selection metric of a report.
  double metric(const metrics::ClassificationReport& report) const;
  const std::vector<std::string>& class_names() const { return class_names_; }
  const CrossEntropyOptions& loss_options() const { return loss_options_; }

 private:
  std::string name_, metric_name_;
  std::vector<std::string> class_names_;
  CrossEntropyOptions loss_options_;
  int64_t select_class_ = -1;  // f1 of this class; -1: accuracy; -2: macro F1
};

// Class names that reports and JSON can show whole: unique, and without NUL characters (which
// would cut a text report short). `key` names the config key in the error.
void check_class_names(const std::vector<std::string>& class_names, const char* key);

// The classes a name like "f1:spam" refers to, or an error naming the key and the choices.
void check_selection(const std::string& select, const std::vector<std::string>& class_names,
                     const char* key);

// scikit-learn's class_weight="balanced": n / (classes * count(c)) for each class c of `labels`
// (class indices in [0, classes)); a class without samples gets weight 0.
std::vector<float> balanced_class_weights(const std::vector<int64_t>& labels, int64_t classes);

}  // namespace heed::tasks
