// Classification metrics with scikit-learn's semantics and report layout.
//
// classification_report(y_true, y_pred, names) computes the same numbers and, through
// format_report, the same text as
//
//   sklearn.metrics.classification_report(y_true, y_pred, labels=range(len(names)),
//                                         target_names=names, digits=digits)
//
// Every listed class counts as a label, present in the data or not, so the macro average always
// divides by names.size(). Undefined ratios (no predictions of a class, no true samples of a
// class, precision + recall == 0) are 0, like sklearn's default zero_division="warn" (which also
// yields 0, plus a Python warning). Averages are summed in numpy's pairwise order, so the doubles
// match numpy's bit for bit and the rounded text matches even at rounding ties.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace heed::metrics {

struct ClassMetrics {
  std::string name;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  int64_t support = 0;  // number of true samples of the class (all samples for the averages)
};

struct ClassificationReport {
  std::vector<ClassMetrics> classes;  // one per class name, index = label
  double accuracy = 0;                // correct / total
  ClassMetrics macro_avg;             // name "macro avg": unweighted mean over all classes
  ClassMetrics weighted_avg;          // name "weighted avg": mean weighted by support
  int64_t total = 0;                  // number of samples
  std::vector<std::vector<int64_t>> confusion;  // [true][pred] counts, classes x classes
};

// Per-class precision, recall, F1 and support, accuracy, macro and weighted averages, and the
// confusion matrix. Labels are class indices into class_names. Throws heed::Error if the inputs
// are empty, differ in length, there are no class names, or a label is outside
// [0, class_names.size()) (the message names the vector, the index and the value).
ClassificationReport classification_report(const std::vector<int64_t>& y_true,
                                           const std::vector<int64_t>& y_pred,
                                           const std::vector<std::string>& class_names);

// The text sklearn.metrics.classification_report returns for the same data and digits, byte for
// byte (it ends with a newline):
//
//                 precision    recall  f1-score   support
//   <blank>
//          name      0.xxxx    0.xxxx    0.xxxx        NN     one row per class
//   <blank>
//      accuracy                          0.xxxx        NN     F1 column only, total support
//     macro avg      0.xxxx    0.xxxx    0.xxxx        NN
//  weighted avg      0.xxxx    0.xxxx    0.xxxx        NN
//
// The name column is right-aligned to max(longest name, len("weighted avg"), digits) characters
// (Unicode code points of the UTF-8 names, as Python counts them); each number column is a
// space plus a right-aligned 9-character field. As in sklearn, when some class occurs in neither
// y_true nor y_pred the "accuracy" row becomes a full "micro avg" row (micro precision, recall
// and F1, which all equal the accuracy here). The accuracy row prints sklearn's micro F1,
// 2pr/(p+r) with p = r = accuracy, which can differ from `accuracy` in the last bit.
// One deliberate difference: supports are always integers, whereas sklearn 1.2 prints them as
// floats ("7.0") when not a single prediction is correct (its float-zero fallback).
// Throws heed::Error if digits is outside [0, 50] or the report is inconsistent (confusion matrix
// not classes x classes).
std::string format_report(const ClassificationReport& r, int digits = 4);

// The confusion matrix as text, rows = true class, columns = predicted class. Columns are
// labelled by class index to keep them narrow; rows by "index name". Example:
//
//   true \ pred  0  1  2
//   0 cat        5  0  1
//   1 dog        0  7  0
//   2 café      12  0  3
//
// The row-label column is left-aligned to the widest of "true \ pred" and the "index name"
// labels (in code points); each count column is one space plus a right-aligned field as wide as
// the widest count or column index. Every line, including the last, ends with a newline.
std::string format_confusion_matrix(const ClassificationReport& r);

// {"accuracy", "total", "class_names": [...], "confusion_matrix": [[...]] ([true][pred]),
//  "classes": [{"name", "precision", "recall", "f1", "support"}, ...],
//  "macro_avg": {same fields}, "weighted_avg": {same fields}}.
nlohmann::json to_json(const ClassificationReport& r);

}  // namespace heed::metrics
