#!/usr/bin/python3
"""Generate golden reference files for heed::metrics BLEU and chrF.

Run from anywhere with Debian's python3 and python3-nltk installed:

    /usr/bin/python3 tools/make_golden_bleu.py

Writes one JSON file per corpus to tests/golden/bleu/<case>.json. The C++ tests only read these
committed files; they need neither Python nor NLTK.

BLEU: heed follows sacreBLEU (13a tokens, corpus counts). NLTK's corpus_bleu takes tokens, so
this script tokenises with its own transcription of sacreBLEU's 13a rules (the regular
expressions of sacrebleu/tokenizers/tokenizer_13a.py, applied with Python's re), then calls
nltk.translate.bleu_score.corpus_bleu (one reference per line, 4-gram uniform weights, no
smoothing). Every corpus here has a match at every order, where sacreBLEU's default smoothing
changes nothing, so the two definitions agree.

chrF: heed follows sacreBLEU (counts summed over the corpus). NLTK's corpus_chrf is instead the
mean of per-sentence, per-order F-scores; so the file holds NLTK's per-sentence, per-order
figures (chrf_precision_recall_fscore_support with beta 2 on the white-space-free strings) and
its corpus_chrf, which the C++ test rebuilds from heed's counts.

Fields: generator; pairs [{candidate, reference, candidate_tokens, reference_tokens,
chrf: [{order, precision, recall, fscore, matches}]}]; bleu (0-100); chrf_nltk (0-1, beta 2).
"""

import json
import os
import re

import nltk
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.chrf_score import chrf_precision_recall_fscore_support, corpus_chrf

OUT_DIR = os.environ.get("HEED_GOLDEN_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "bleu")
GENERATOR = f"tools/make_golden_bleu.py, nltk {nltk.__version__}"

RULES_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def tokens_13a(line):
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, replacement in RULES_13A:
        line = pattern.sub(replacement, line)
    return line.split()


CASES = {
    # English to German, as Debian's descriptions read: punctuation, version numbers, an
    # entity, umlauts, a no-break space, a hyphen after a digit.
    "descriptions_de": [
        ("Dieses Paket enthält die Bibliothek für GNU/Linux, Version 2.36.",
         "Dieses Paket enthält die Laufzeitbibliothek für GNU/Linux (Version 2.36)."),
        ("Es ist ein Werkzeug zum Bearbeiten von Bildern, z.B. PNG-Dateien.",
         "Es ist ein Programm zum Bearbeiten von Bildern, z.B. PNG-Dateien."),
        ("Das Programm &quot;foo&quot; liest 1,5 GB in 3-4 Sekunden.",
         "Das Programm \"foo\" liest 1,5 GB in 3-4 Sekunden."),
        ("Unterstützt werden: C, C++ und\u00a0Python.", "Unterstützt werden C, C++ und Python."),
        ("Dies ist ein Übergangspaket; es kann entfernt werden.",
         "Dies ist ein Übergangspaket. Es kann sicher entfernt werden."),
    ],
    # Candidates shorter than their references: the brevity penalty applies.
    "short_candidates": [
        ("the cat sat on the mat", "the cat sat on the red mat today"),
        ("a library for parsing JSON files", "a small library for parsing and writing JSON files"),
        ("this package provides the documentation", "this package provides the documentation in HTML"),
    ],
}


def reference(pairs):
    out = []
    for candidate, ref in pairs:
        c = re.sub(r"\s+", "", candidate)
        r = re.sub(r"\s+", "", ref)
        orders = []
        for n in range(1, 7):
            p, rec, f, tp = chrf_precision_recall_fscore_support(r, c, n, beta=2.0)
            orders.append({"order": n, "precision": p, "recall": rec, "fscore": f, "matches": tp})
        out.append({"candidate": candidate, "reference": ref, "candidate_tokens": tokens_13a(candidate),
                    "reference_tokens": tokens_13a(ref), "chrf": orders})
    bleu = corpus_bleu([[tokens_13a(r)] for _, r in pairs], [tokens_13a(c) for c, _ in pairs])
    chrf = corpus_chrf([r for _, r in pairs], [c for c, _ in pairs], beta=2.0)
    return {"generator": GENERATOR, "pairs": out, "bleu": 100 * bleu, "chrf_nltk": chrf}


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, pairs in CASES.items():
        data = reference(pairs)
        path = os.path.join(OUT_DIR, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{path}: BLEU {data['bleu']:.4f}, NLTK chrF {data['chrf_nltk']:.4f}")


if __name__ == "__main__":
    main()
