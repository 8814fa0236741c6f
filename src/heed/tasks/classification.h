// The task shared by every classifier (images, text): cross-entropy with label smoothing over
// batch "labels" (class indices; -100 is ignored), evaluated with scikit-learn's
// classification report and a confusion matrix. The model-selection metric is the accuracy,
// the macro F1 or one class's F1 ("f1:spam").
#pragma once

#include <string>
#include <vector>

#include "heed/metrics/classification.h"
#include "heed/train/task.h"

namespace heed::tasks {

class ClassificationTask : public train::Task {
 public:
  // `select`: "accuracy" | "macro_f1" | "f1:<class name>" (checked against class_names).
  ClassificationTask(std::string name, std::vector<std::string> class_names, float label_smoothing,
                     std::string select = "accuracy");
  std::string name() const override { return name_; }
  std::string metric_name() const override { return metric_name_; }
  int64_t targets(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

  // The selection metric of a report.
  double metric(const metrics::ClassificationReport& report) const;
  const std::vector<std::string>& class_names() const { return class_names_; }

 private:
  std::string name_, metric_name_;
  std::vector<std::string> class_names_;
  float label_smoothing_;
  int64_t select_class_ = -1;  // f1 of this class; -1: accuracy; -2: macro F1
};

// The classes a name like "f1:spam" refers to, or an error naming the key and the choices.
void check_selection(const std::string& select, const std::vector<std::string>& class_names,
                     const char* key);

}  // namespace heed::tasks
