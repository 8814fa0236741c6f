#include "heed/tasks/classification.h"

#include <set>

#include <algorithm>
#include <cmath>

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
    // Mean loss of the batch times its target weight (its rows when unweighted), summed in batch
    // order (as the loss of the whole split would be), then divided by the total at the end.
    const double weight = task_.target_weight(batch);
    loss_sum_ += double(cross_entropy(Var(logits), labels, task_.loss_options()).value().item()) * weight;
    weight_ += weight;
    for (int64_t i = 0; i < rows; ++i) {
      const float* row = logits.f32() + i * classes;
      predictions_.push_back(std::max_element(row, row + classes) - row);
      truth_.push_back(labels.i64()[i]);
    }
  }

  train::EvalResult finish() override {
    train::EvalResult r;
    r.loss = weight_ > 0 ? loss_sum_ / weight_ : 0;
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
  double loss_sum_ = 0, weight_ = 0;
  std::vector<int64_t> predictions_, truth_;
};
}  // namespace

void check_class_names(const std::vector<std::string>& class_names, const char* key) {
  std::set<std::string> seen;
  for (size_t i = 0; i < class_names.size(); ++i) {
    HEED_CHECK(class_names[i].find('\0') == std::string::npos, "config: ", key, "[", i,
               "] contains a NUL character; class names are shown in reports, where it would cut them short");
    HEED_CHECK(seen.insert(class_names[i]).second, "config: ", key, "[", i, "] '", class_names[i],
               "' appears twice");
  }
}

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
                                       float label_smoothing, std::string select, std::vector<float> class_weights)
    : name_(std::move(name)), class_names_(std::move(class_names)) {
  loss_options_.label_smoothing = label_smoothing;
  if (!class_weights.empty()) {
    HEED_CHECK(class_weights.size() == class_names_.size(), "config: data.class_weights has ", class_weights.size(),
               " values for ", class_names_.size(), " classes");
    for (size_t c = 0; c < class_weights.size(); ++c)
      HEED_CHECK(std::isfinite(class_weights[c]) && class_weights[c] >= 0, "config: data.class_weights[", c,
                 "] = ", class_weights[c], " is not a finite number >= 0");
    loss_options_.weight = Tensor::from_vector({int64_t(class_weights.size())}, class_weights);
  }
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

double ClassificationTask::target_weight(const nn::Batch& batch) const {
  const Tensor& labels = batch.at("labels");
  const float* w = loss_options_.weight.defined() ? loss_options_.weight.f32() : nullptr;
  double total = 0;  // in row order, as the loss kernel sums it
  for (int64_t i = 0; i < labels.numel(); ++i) {
    const int64_t y = labels.i64()[i];
    if (y != kIgnore) total += w ? double(w[y]) : 1.0;
  }
  return total;
}

Var ClassificationTask::loss(const nn::ModelOutput& output, const nn::Batch& batch) const {
  return cross_entropy(output.logits, batch.at("labels"), loss_options_);
}

std::unique_ptr<train::Evaluator> ClassificationTask::evaluator() const {
  return std::make_unique<ClassificationEvaluator>(*this);
}

double ClassificationTask::metric(const metrics::ClassificationReport& report) const {
  if (select_class_ == -1) return report.accuracy;
  if (select_class_ == -2) return report.macro_avg.f1;
  return report.classes[size_t(select_class_)].f1;
}

std::vector<float> balanced_class_weights(const std::vector<int64_t>& labels, int64_t classes) {
  HEED_CHECK(classes > 0, "balanced_class_weights: ", classes, " classes");
  std::vector<int64_t> count(size_t(classes), 0);
  for (int64_t y : labels) {
    HEED_CHECK(y >= 0 && y < classes, "balanced_class_weights: label ", y, " is not in [0, ", classes, ")");
    ++count[size_t(y)];
  }
  std::vector<float> w(size_t(classes), 0.f);
  for (int64_t c = 0; c < classes; ++c)
    if (count[size_t(c)] > 0) w[size_t(c)] = float(double(labels.size()) / (double(classes) * double(count[size_t(c)])));
  return w;
}

}  // namespace heed::tasks
