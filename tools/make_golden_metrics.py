#!/usr/bin/python3
"""Generate golden reference files for heed::metrics::classification_report.

Run from anywhere with Debian's python3 and python3-sklearn installed:

    /usr/bin/python3 tools/make_golden_metrics.py

Writes one JSON file per case to tests/golden/metrics/<case>.json. The label vectors come from
numpy's legacy RandomState (a stream numpy guarantees not to change) with a fixed seed per case,
so a re-run with the same library versions rewrites identical files. The C++ tests only read
these committed files; they need neither Python nor scikit-learn.

The engine's classification_report(y_true, y_pred, names) treats every listed class as a label,
so the reference call is

    classification_report(y_true, y_pred, labels=range(len(names)), target_names=names,
                          digits=digits, zero_division=0)

zero_division=0 gives the same numbers as sklearn's default ("warn"), minus the warning.

Fields of each file:
    generator          this script and the sklearn / numpy versions
    class_names        the target names, index = label
    digits             the digits argument
    y_true, y_pred     the label vectors
    report             the text classification_report returns (ends with a newline), which the
                       C++ format_report must reproduce byte for byte. One normalisation: when no
                       prediction is correct, sklearn 1.2's multilabel_confusion_matrix falls back
                       to float zeros and the supports print as "7.0"; heed always prints integer
                       supports, so those become "7" (right-aligned in the same field).
    sklearn_report     sklearn's raw text, only present when it differs from report
    precision, recall, f1, support
                       per class, from precision_recall_fscore_support(average=None)
    accuracy           accuracy_score(y_true, y_pred)
    summary_row        the heading of the row after the classes: "accuracy", or "micro avg" when
                       some class occurs in neither y_true nor y_pred (sklearn's rule with labels=)
    micro_avg, macro_avg, weighted_avg
                       {"precision", "recall", "f1"} from precision_recall_fscore_support with
                       average="micro" / "macro" / "weighted"
    total              number of samples
    confusion_matrix   sklearn.metrics.confusion_matrix(..., labels=range(n)), [true][pred]
"""

import json
import os
import re

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, classification_report, confusion_matrix,
                             precision_recall_fscore_support)

OUT_DIR = os.environ.get("HEED_GOLDEN_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "metrics")
GENERATOR = (f"tools/make_golden_metrics.py, scikit-learn {sklearn.__version__}, "
             f"numpy {np.__version__}")

FASHION_MNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                 "Sneaker", "Bag", "Ankle boot"]


def noisy_predictions(rng, y_true, num_classes, correct_prob):
    """Keeps each true label with probability correct_prob, else draws a uniform wrong label."""
    y_pred = y_true.copy()
    for i in range(len(y_true)):
        if rng.rand() >= correct_prob:
            y_pred[i] = (y_true[i] + rng.randint(1, num_classes)) % num_classes
    return y_pred


def case_fashion_mnist():
    """10 classes; "Ankle boot" (9) has zero support but is predicted, "Shirt" (6) is never
    predicted although it has support."""
    rng = np.random.RandomState(1)
    y_true = rng.randint(0, 9, size=300)  # labels 0..8: class 9 never occurs as a true label
    y_pred = noisy_predictions(rng, y_true, 10, 0.75)
    y_pred[y_pred == 6] = 0  # Shirts get mistaken for T-shirts, never predicted as Shirt
    assert (y_pred == 9).any() and not (y_true == 9).any() and (y_true == 6).any()
    return FASHION_MNIST, y_true, y_pred, 4


def case_absent_class():
    """10 classes, "Coat" (4) occurs in neither vector: sklearn then prints a "micro avg" row
    instead of "accuracy", and the macro average still divides by all 10 classes."""
    rng = np.random.RandomState(2)
    y_true = rng.randint(0, 10, size=80)
    y_pred = noisy_predictions(rng, y_true, 10, 0.6)
    y_true[y_true == 4] = 3
    y_pred[y_pred == 4] = 5
    return FASHION_MNIST, y_true, y_pred, 2


def case_wide_digits():
    """digits (14) wider than "weighted avg" sets the name column; "café" is 4 characters but
    5 UTF-8 bytes, so padding must count code points like Python does."""
    rng = np.random.RandomState(3)
    y_true = rng.randint(0, 3, size=37)
    y_pred = noisy_predictions(rng, y_true, 3, 0.5)
    return ["cat", "dog", "café"], y_true, y_pred, 14


def case_all_wrong():
    """Binary, every prediction wrong: all scores 0, including the accuracy row's 2pr/(p+r)."""
    y_true = np.array([0, 0, 1, 1, 1, 0, 1])
    return ["negative", "positive"], y_true, 1 - y_true, 3


def case_digits_zero():
    """digits=0: 0.5 rounds half to even ("0"), 2/3 to "1"; the accuracy row's blank columns
    still take 10 characters each."""
    return ["a", "b"], np.array([0, 1, 1]), np.array([0, 1, 0]), 0


def case_long_name():
    """A class name longer than "weighted avg" sets the name column width."""
    names = ["a very long class name", "b", "c"]
    return names, np.array([0, 1, 1, 2]), np.array([0, 1, 0, 2]), 2


CASES = {
    "fashion_mnist": case_fashion_mnist,
    "absent_class": case_absent_class,
    "wide_digits": case_wide_digits,
    "all_wrong": case_all_wrong,
    "digits_zero": case_digits_zero,
    "long_name": case_long_name,
}


def averages(y_true, y_pred, labels, average):
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                 zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def integer_supports(report):
    """Rewrites float supports ("      7.0" -> "        7") at the ends of report lines."""
    return "\n".join(re.sub(r"(\d+)\.0$", lambda m: m.group(1).rjust(len(m.group(0))), line)
                     for line in report.split("\n"))


def reference(names, y_true, y_pred, digits):
    labels = list(range(len(names)))
    report = classification_report(y_true, y_pred, labels=labels, target_names=names,
                                   digits=digits, zero_division=0)
    as_dict = classification_report(y_true, y_pred, labels=labels, target_names=names,
                                    digits=digits, zero_division=0, output_dict=True)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None,
                                                 zero_division=0)
    data = {
        "generator": GENERATOR,
        "class_names": names,
        "digits": digits,
        "y_true": [int(v) for v in y_true],
        "y_pred": [int(v) for v in y_pred],
        "report": integer_supports(report),
        "precision": [float(v) for v in p],
        "recall": [float(v) for v in r],
        "f1": [float(v) for v in f],
        "support": [int(v) for v in s],
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "summary_row": "accuracy" if "accuracy" in as_dict else "micro avg",
        "micro_avg": averages(y_true, y_pred, labels, "micro"),
        "macro_avg": averages(y_true, y_pred, labels, "macro"),
        "weighted_avg": averages(y_true, y_pred, labels, "weighted"),
        "total": len(y_true),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
    if data["report"] != report:
        data["sklearn_report"] = report
    return data


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, make in CASES.items():
        data = reference(*make())
        path = os.path.join(OUT_DIR, name + ".json")
        # json writes floats with repr(), the shortest text that reads back as the same double.
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{path}:\n{data['report']}")


if __name__ == "__main__":
    main()
