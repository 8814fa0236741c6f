#include "heed/tasks/classification.h"

#include <algorithm>

#include "heed/ops/ops.h"

namespace heed::tasks {

namespace {
constexpr int64_t kIgnore = -100;

class ClassificationEvaluator : public train::Evaluator {
 public:
  explicit ClassificationEvaluator(const ClassificationTask& task) : task_(task) {}

  void add(const nn::ModelOutput& output, const nn::Batch& batch) override {
    const Tensor& logits = output.logits.value();
    const Tensor& labels = batch.at("labels");
    const int64_t rows = logits.size(0), classes = logits.size(1);
    // Mean loss of the batch times its rows, summed in batch order (as the loss of the whole
    // split would be), then divided by the rows at the end.
    loss_sum_ += double(cross_entropy(Var(logits), labels).value().item()) * double(rows);
    rows_ += rows;
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = logits.f32() + i * classes;
      predictions_.push_back(std::max_element(row, row + classes) - row);
      truth_.push_back(labels.i64()[i]);
    }
  }

  train::EvalResult finish() override {
    train::EvalResult r;
    r.loss = rows_ ? loss_sum_ / double(rows_) : 0;
    const metrics::ClassificationReport report =
        metrics::classification_report(truth_, predictions_, task_.class_names());
    r.metric = task_.metric(report);
    r.json = metrics::to_json(report);
    r.json["loss"] = r.loss;
    r.text = metrics::format_report(report) + "\n" + metrics::format_confusion_matrix(report);
    r.predictions = predictions_;
    return r;
  }

 private:
  const ClassificationTask& task_;
  double loss_sum_ = 0;
  int64_t rows_ = 0;
  std::vector<int64_t> predictions_, truth_;
};
}  // namespace

void check_selection(const std::string& select, const std::vector<std::string>& class_names,
                     const char* key) {
  if (select == "accuracy" || select == "macro_f1") return;
  if (select.rfind("f1:", 0) == 0) {
    const std::string cls = select.substr(3);
    if (std::find(class_names.begin(), class_names.end(), cls) != class_names.end()) return;
    std::string names;
    for (const std::string& n : class_names) names += (names.empty() ? "" : ", ") + n;
    detail::fail("config: ", key, ": no class '", cls, "' (the classes are ", names, ")");
  }
  detail::fail("config: ", key, " must be \"accuracy\", \"macro_f1\" or \"f1:<class name>\", got \"",
               select, "\"");
}

ClassificationTask::ClassificationTask(std::string name, std::vector<std::string> class_names,
                                       float label_smoothing, std::string select)
    : name_(std::move(name)), class_names_(std::move(class_names)), label_smoothing_(label_smoothing) {
  check_selection(select, class_names_, "data.select_metric");
  if (select == "accuracy") {
    metric_name_ = "accuracy";
  } else if (select == "macro_f1") {
    metric_name_ = "macro_f1";
    select_class_ = -2;
  } else {
    const std::string cls = select.substr(3);
    select_class_ = std::find(class_names_.begin(), class_names_.end(), cls) - class_names_.begin();
    metric_name_ = "f1_" + cls;
  }
}

int64_t ClassificationTask::targets(const nn::Batch& batch) const {
  const Tensor& labels = batch.at("labels");
  int64_t n = 0;
  for (int64_t i = 0; i < labels.numel(); ++i) n += labels.i64()[i] != kIgnore;
  return n;
}

Var ClassificationTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  CrossEntropyOptions options;
  options.label_smoothing = label_smoothing_;
  return cross_entropy(output.logits, batch.at("labels"), options);
}

std::unique_ptr<train::Evaluator> ClassificationTask::evaluator() const {
  return std::make_unique<ClassificationEvaluator>(*this);
}

double ClassificationTask::metric(const metrics::ClassificationReport& report) const {
  if (select_class_ == -1) return report.accuracy;
  if (select_class_ == -2) return report.macro_avg.f1;
  return report.classes[size_t(select_class_)].f1;
}

}  // namespace heed::tasks
