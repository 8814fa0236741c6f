#!/usr/bin/python3
"""Same-run baseline for heed's text classifier: TF-IDF + logistic regression (scikit-learn,
Debian's python3-sklearn) on the same JSONL splits and the same text (subject + body).

    /usr/bin/python3 bench/baseline_text.py [--splits temporal random] [--json]

For each split: the regularisation C and the class weighting are chosen on a seeded 10%
validation part of the training file (the rest trains), by the validation F1 of the positive
class; the chosen model is refitted on the whole training file and evaluated on the test file.
Prints precision, recall and F1 of spam, the accuracy and the confusion matrix.
"""
import argparse
import json
import os
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "spamassassin")


def load(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts.append(r["subject"] + "\n" + r["body"])
            labels.append(1 if r["label"] == "spam" else 0)
    return texts, np.array(labels)


def fit(texts, labels, c, weight):
    vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=200000, ngram_range=(1, 2))
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=c, class_weight=weight, max_iter=2000)
    clf.fit(x, labels)
    return vec, clf


def spam_scores(y, pred):
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=[1], zero_division=0)
    return float(p[0]), float(r[0]), float(f[0])


def run(split):
    train_x, train_y = load(os.path.join(DATA, f"{split}-train.jsonl"))
    test_x, test_y = load(os.path.join(DATA, f"{split}-test.jsonl"))
    rng = np.random.RandomState(0)
    order = rng.permutation(len(train_x))
    n_val = len(order) // 10
    val_idx, fit_idx = order[:n_val], order[n_val:]
    best = None
    for c in (0.3, 1, 3, 10, 30, 100):
        for weight in (None, "balanced"):
            vec, clf = fit([train_x[i] for i in fit_idx], train_y[fit_idx], c, weight)
            pred = clf.predict(vec.transform([train_x[i] for i in val_idx]))
            f1 = spam_scores(train_y[val_idx], pred)[2]
            if best is None or f1 > best[0]:
                best = (f1, c, weight)
    start = time.time()
    vec, clf = fit(train_x, train_y, best[1], best[2])
    pred = clf.predict(vec.transform(test_x))
    p, r, f = spam_scores(test_y, pred)
    return {"split": split, "C": best[1], "class_weight": best[2], "validation_f1": best[0],
            "spam_precision": p, "spam_recall": r, "spam_f1": f, "accuracy": float((pred == test_y).mean()),
            "confusion": confusion_matrix(test_y, pred, labels=[0, 1]).tolist(), "fit_seconds": time.time() - start,
            "train": len(train_x), "test": len(test_x)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", nargs="*", default=["temporal", "random"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    for split in args.splits:
        r = run(split)
        if args.json:
            print(json.dumps(r))
            continue
        print(f"{split}: TF-IDF + logistic regression (C={r['C']}, class_weight={r['class_weight']}, chosen on "
              f"validation F1 {r['validation_f1']:.4f}); test {r['test']} mails: spam precision "
              f"{r['spam_precision']:.4f} recall {r['spam_recall']:.4f} F1 {r['spam_f1']:.4f}, accuracy "
              f"{r['accuracy']:.4f}; confusion [ham, spam] x [ham, spam] = {r['confusion']}")


if __name__ == "__main__":
    main()
