#!/usr/bin/python3
"""Count baselines for a causal-LM checkpoint's perplexity, on the same pieces: the checkpoint's
own SentencePiece tokenizer (from its metadata) encodes the training and evaluation texts as
heed does ([CLS] pieces [SEP], cut to data.max_tokens), then

  unigram: P(next) = (count + 1) / (N + V)           (add-one smoothing)
  bigram:  P(next | prev) interpolated with the unigram, the weight tuned on the evaluation file
           (an optimistic baseline: it sees the file it is scored on for that one number)

are scored on every next token after [CLS], as heed's perplexity is.

    /usr/bin/python3 bench/baseline_lm.py CHECKPOINT [--data FILE]   (needs python3-sentencepiece)
"""
import argparse
import base64
import collections
import json
import math
import struct

import sentencepiece


def metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def sequences(sp, path, max_tokens):
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            ids = [2] + sp.encode(line.rstrip("\n"))
            ids = ids[:max_tokens]
            if len(ids) < max_tokens:
                ids.append(3)
            out.append(ids)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--data", help="default: the config's data.validation")
    args = ap.parse_args()
    meta = metadata(args.checkpoint)
    config = json.loads(meta["config"])
    sp = sentencepiece.SentencePieceProcessor(model_proto=base64.b64decode(meta["tokenizer"]))
    max_tokens = config["data"]["max_tokens"]
    vocab = sp.get_piece_size()
    train = sequences(sp, config["data"]["train"], max_tokens)
    data = sequences(sp, args.data or config["data"]["validation"], max_tokens)
    uni, bi, prev_count = collections.Counter(), collections.Counter(), collections.Counter()
    for s in train:
        for a, b in zip(s, s[1:]):
            uni[b] += 1
            bi[(a, b)] += 1
            prev_count[a] += 1
    total = sum(uni.values())

    def p_uni(t):
        return (uni[t] + 1) / (total + vocab)

    pairs = [(a, b) for s in data for a, b in zip(s, s[1:])]
    uni_nll = -sum(math.log(p_uni(b)) for _, b in pairs) / len(pairs)
    best = None
    for lam in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
        nll = -sum(math.log(lam * (bi[(a, b)] / prev_count[a] if prev_count[a] else 0) + (1 - lam) * p_uni(b))
                   for a, b in pairs) / len(pairs)
        if best is None or nll < best[1]:
            best = (lam, nll)
    print(json.dumps({"tokens": len(pairs), "vocab": vocab, "unigram_perplexity": math.exp(uni_nll),
                      "bigram_perplexity": math.exp(best[1]), "bigram_weight": best[0]}))


if __name__ == "__main__":
    main()
