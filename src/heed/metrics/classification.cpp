#include "heed/metrics/classification.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>

#include "heed/core/error.h"

namespace heed::metrics {
namespace {

// Largest digits format_report accepts; sklearn has no limit, but beyond this the output is
// unreadable and the fixed-point text of a double is exact anyway.
constexpr int kMaxDigits = 50;

void check_labels(const char* which, const std::vector<int64_t>& labels, int64_t num_classes) {
  for (size_t i = 0; i < labels.size(); ++i) {
    HEED_CHECK(labels[i] >= 0 && labels[i] < num_classes, "classification_report: ", which, "[", i,
               "] = ", labels[i], " is outside [0, ", num_classes, ") (", num_classes,
               " class names)");
  }
}

// sklearn's _prf_divide with zero_division=0: an undefined ratio is 0.
double ratio_or_zero(int64_t numerator, int64_t denominator) {
  if (denominator == 0) return 0.0;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

// F1 evaluated exactly as sklearn does, (2 * p) * r / (p + r), with 0 when p + r == 0, so the
// result is the same double (a mathematically equal form like 2tp/(pred+true) can differ in the
// last bit and flip a rounding tie in the text).
double f1_score(double precision, double recall) {
  const double denominator = precision + recall;
  if (denominator == 0.0) return 0.0;
  return 2.0 * precision * recall / denominator;
}

// numpy's pairwise summation (pairwise_sum_DOUBLE) for a contiguous array, which np.sum and
// np.mean use; matching its order makes the averages identical to sklearn's doubles.
double numpy_sum(std::span<const double> a) {
  constexpr size_t kBlock = 128;  // numpy's PW_BLOCKSIZE
  const size_t n = a.size();
  if (n < 8) {
    double sum = 0.0;
    for (double v : a) sum += v;
    return sum;
  }
  if (n <= kBlock) {
    double r[8];
    std::copy(a.begin(), a.begin() + 8, r);
    size_t i = 8;
    for (; i < n - n % 8; i += 8) {
      for (size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  size_t half = n / 2;
  half -= half % 8;
  return numpy_sum(a.first(half)) + numpy_sum(a.subspan(half));
}

// np.mean: pairwise sum divided by the count.
double numpy_mean(const std::vector<double>& values) {
  return numpy_sum(values) / static_cast<double>(values.size());
}

// np.average(values, weights=support): sum(values * support) / sum(support).
double numpy_weighted_mean(const std::vector<double>& values, const std::vector<double>& weights) {
  std::vector<double> products(values.size());
  for (size_t i = 0; i < values.size(); ++i) products[i] = values[i] * weights[i];
  return numpy_sum(products) / numpy_sum(weights);
}

std::vector<std::vector<int64_t>> count_confusion(const std::vector<int64_t>& y_true,
                                                  const std::vector<int64_t>& y_pred,
                                                  size_t num_classes) {
  std::vector<std::vector<int64_t>> confusion(num_classes, std::vector<int64_t>(num_classes, 0));
  for (size_t i = 0; i < y_true.size(); ++i) ++confusion[y_true[i]][y_pred[i]];
  return confusion;
}

int64_t row_sum(const std::vector<std::vector<int64_t>>& m, size_t row) {
  int64_t sum = 0;
  for (int64_t v : m[row]) sum += v;
  return sum;
}

int64_t column_sum(const std::vector<std::vector<int64_t>>& m, size_t column) {
  int64_t sum = 0;
  for (const auto& row : m) sum += row[column];
  return sum;
}

int64_t trace(const std::vector<std::vector<int64_t>>& m) {
  int64_t sum = 0;
  for (size_t i = 0; i < m.size(); ++i) sum += m[i][i];
  return sum;
}

// Per-class metrics from the confusion matrix: tp = diagonal, predicted = column sum,
// support = row sum.
std::vector<ClassMetrics> per_class(const std::vector<std::vector<int64_t>>& confusion,
                                    const std::vector<std::string>& names) {
  std::vector<ClassMetrics> classes(names.size());
  for (size_t c = 0; c < names.size(); ++c) {
    ClassMetrics& m = classes[c];
    m.name = names[c];
    m.support = row_sum(confusion, c);
    m.precision = ratio_or_zero(confusion[c][c], column_sum(confusion, c));
    m.recall = ratio_or_zero(confusion[c][c], m.support);
    m.f1 = f1_score(m.precision, m.recall);
  }
  return classes;
}

// The macro average (weights empty) or support-weighted average of each metric column.
ClassMetrics average(const std::vector<ClassMetrics>& classes, const char* name, int64_t total,
                     bool weighted) {
  std::vector<double> p, r, f, w;
  for (const ClassMetrics& m : classes) {
    p.push_back(m.precision);
    r.push_back(m.recall);
    f.push_back(m.f1);
    w.push_back(static_cast<double>(m.support));
  }
  if (weighted) {
    return {name, numpy_weighted_mean(p, w), numpy_weighted_mean(r, w), numpy_weighted_mean(f, w),
            total};
  }
  return {name, numpy_mean(p), numpy_mean(r), numpy_mean(f), total};
}

// ---- text helpers ----

// Python's len() of a UTF-8 string: the number of code points (bytes that are not 10xxxxxx
// continuation bytes).
size_t display_length(const std::string& s) {
  return static_cast<size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string pad_left(const std::string& s, size_t width) {
  const size_t length = display_length(s);
  return length >= width ? s : std::string(width - length, ' ') + s;
}

std::string pad_right(const std::string& s, size_t width) {
  const size_t length = display_length(s);
  return length >= width ? s : s + std::string(width - length, ' ');
}

// Python's format(value, f".{digits}f"): both it and glibc's printf round the exact binary value
// correctly (ties to even), so the digits agree.
std::string fixed(double value, int digits) {
  const int size = std::snprintf(nullptr, 0, "%.*f", digits, value);
  std::string text(static_cast<size_t>(size) + 1, '\0');
  std::snprintf(text.data(), text.size(), "%.*f", digits, value);
  text.resize(static_cast<size_t>(size));
  return text;
}

// A space, then `text` right-aligned to `width`. Appends rather than writing " " + string,
// which GCC 12 at -O3 flags with a false -Wrestrict (GCC bug 105329).
std::string cell(const std::string& text, size_t width) {
  std::string out(1, ' ');
  out += pad_left(text, width);
  return out;
}

// One " {:>9}" column of sklearn's report.
std::string column(const std::string& text) { return cell(text, 9); }

std::string metrics_row(const std::string& heading, double p, double r, double f, int64_t support,
                        size_t width, int digits) {
  return pad_left(heading, width) + " " + column(fixed(p, digits)) + column(fixed(r, digits)) +
         column(fixed(f, digits)) + column(std::to_string(support)) + "\n";
}

// sklearn labels its micro row "accuracy" only if the given labels equal the labels present in
// y_true or y_pred, i.e. every class was seen as a true or a predicted label.
bool every_class_seen(const ClassificationReport& r) {
  for (size_t c = 0; c < r.classes.size(); ++c) {
    if (row_sum(r.confusion, c) + column_sum(r.confusion, c) == 0) return false;
  }
  return true;
}

// The "accuracy" (or "micro avg") row: sklearn's micro precision and recall, tp / predicted and
// tp / true summed over classes, and their F1.
std::string summary_row(const ClassificationReport& r, size_t width, int digits) {
  const int64_t correct = trace(r.confusion);
  int64_t predicted = 0, actual = 0;
  for (size_t c = 0; c < r.confusion.size(); ++c) {
    predicted += column_sum(r.confusion, c);
    actual += row_sum(r.confusion, c);
  }
  const double p = ratio_or_zero(correct, predicted);
  const double rec = ratio_or_zero(correct, actual);
  const double f = f1_score(p, rec);
  if (!every_class_seen(r)) return metrics_row("micro avg", p, rec, f, r.total, width, digits);
  return pad_left("accuracy", width) + " " + column("") + column("") + column(fixed(f, digits)) +
         column(std::to_string(r.total)) + "\n";
}

void check_consistent(const ClassificationReport& r, const char* op) {
  const size_t n = r.classes.size();
  HEED_CHECK(n > 0, op, ": the report has no classes");
  HEED_CHECK(r.confusion.size() == n, op, ": confusion matrix has ", r.confusion.size(),
             " rows for ", n, " classes");
  for (size_t i = 0; i < n; ++i) {
    HEED_CHECK(r.confusion[i].size() == n, op, ": confusion matrix row ", i, " has ",
               r.confusion[i].size(), " columns for ", n, " classes");
  }
}

nlohmann::json metrics_json(const ClassMetrics& m) {
  return {{"name", m.name},
          {"precision", m.precision},
          {"recall", m.recall},
          {"f1", m.f1},
          {"support", m.support}};
}

}  // namespace

ClassificationReport classification_report(const std::vector<int64_t>& y_true,
                                           const std::vector<int64_t>& y_pred,
                                           const std::vector<std::string>& class_names) {
  HEED_CHECK(!y_true.empty(), "classification_report: no samples (y_true is empty)");
  HEED_CHECK(y_true.size() == y_pred.size(), "classification_report: y_true has ", y_true.size(),
             " labels but y_pred has ", y_pred.size());
  HEED_CHECK(!class_names.empty(), "classification_report: no class names");
  const auto num_classes = static_cast<int64_t>(class_names.size());
  check_labels("y_true", y_true, num_classes);
  check_labels("y_pred", y_pred, num_classes);

  ClassificationReport r;
  r.total = static_cast<int64_t>(y_true.size());
  r.confusion = count_confusion(y_true, y_pred, class_names.size());
  r.classes = per_class(r.confusion, class_names);
  r.accuracy = ratio_or_zero(trace(r.confusion), r.total);
  r.macro_avg = average(r.classes, "macro avg", r.total, /*weighted=*/false);
  r.weighted_avg = average(r.classes, "weighted avg", r.total, /*weighted=*/true);
  return r;
}

std::string format_report(const ClassificationReport& r, int digits) {
  HEED_CHECK(digits >= 0 && digits <= kMaxDigits, "format_report: digits = ", digits,
             " is outside [0, ", kMaxDigits, "]");
  check_consistent(r, "format_report");
  size_t width = std::max(display_length("weighted avg"), static_cast<size_t>(digits));
  for (const ClassMetrics& m : r.classes) width = std::max(width, display_length(m.name));

  std::string text = std::string(width, ' ') + " " + column("precision") + column("recall") +
                     column("f1-score") + column("support") + "\n\n";
  for (const ClassMetrics& m : r.classes) {
    text += metrics_row(m.name, m.precision, m.recall, m.f1, m.support, width, digits);
  }
  text += "\n";
  text += summary_row(r, width, digits);
  for (const ClassMetrics* m : {&r.macro_avg, &r.weighted_avg}) {
    text += metrics_row(m->name, m->precision, m->recall, m->f1, m->support, width, digits);
  }
  return text;
}

std::string format_confusion_matrix(const ClassificationReport& r) {
  check_consistent(r, "format_confusion_matrix");
  const size_t n = r.classes.size();
  const std::string corner = "true \\ pred";
  std::vector<std::string> labels;
  size_t label_width = display_length(corner);
  size_t cell_width = std::to_string(n - 1).size();
  for (size_t i = 0; i < n; ++i) {
    labels.push_back(std::to_string(i) + " " + r.classes[i].name);
    label_width = std::max(label_width, display_length(labels.back()));
    for (int64_t count : r.confusion[i]) {
      cell_width = std::max(cell_width, std::to_string(count).size());
    }
  }

  std::string text = pad_right(corner, label_width);
  for (size_t j = 0; j < n; ++j) text += cell(std::to_string(j), cell_width);
  text += "\n";
  for (size_t i = 0; i < n; ++i) {
    text += pad_right(labels[i], label_width);
    for (int64_t count : r.confusion[i]) text += cell(std::to_string(count), cell_width);
    text += "\n";
  }
  return text;
}

nlohmann::json to_json(const ClassificationReport& r) {
  nlohmann::json classes = nlohmann::json::array();
  nlohmann::json names = nlohmann::json::array();
  for (const ClassMetrics& m : r.classes) {
    classes.push_back(metrics_json(m));
    names.push_back(m.name);
  }
  return {{"accuracy", r.accuracy},
          {"total", r.total},
          {"class_names", names},
          {"classes", classes},
          {"macro_avg", metrics_json(r.macro_avg)},
          {"weighted_avg", metrics_json(r.weighted_avg)},
          {"confusion_matrix", r.confusion}};
}

}  // namespace heed::metrics
