#!/usr/bin/python3
"""PyTorch reference of heed's encoder-decoder Transformer (src/heed/nn/models/seq2seq.h): token
embeddings scaled by sqrt(D), sinusoidal or learned positions, torch.nn.Transformer itself
(batch_first, GELU, norm_first for pre-norm), an output layer tied to the target embedding or
its own generator. The parameter names are heed's, so checkpoints map one to one.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/seq2seq.py --golden tests/golden/seq2seq

--golden DIR writes two small random models with their inputs, the logits at every target
position in eval mode and every parameter's gradient of the cross-entropy over the targets
(format: tools/make_golden.py): seq2seq_pre_learned_shared (pre-norm, learned positions, one
vocabulary, tied output) and seq2seq_post_sinusoidal_separate (post-norm, sinusoidal positions,
two vocabularies, a generator).
"""
import argparse
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import write_safetensors  # noqa: E402


def sinusoidal(positions, dim):
    p = torch.arange(positions, dtype=torch.float64)[:, None]
    i = torch.arange(dim)
    angle = p / torch.pow(10000.0, (i - i % 2).double() / dim)
    return torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


class Seq2SeqTransformer(nn.Module):
    def __init__(self, source_vocab, target_vocab, max_len=256, dim=256, heads=4, encoder_depth=3,
                 decoder_depth=3, mlp_hidden=1024, dropout=0.0, pre_norm=True, eps=1e-5, positions="sinusoidal",
                 share_embeddings=True, tie_output=True):
        super().__init__()
        self.dim, self.share, self.tie = dim, share_embeddings, tie_output
        if share_embeddings:
            self.embed = nn.Embedding(source_vocab, dim)
        else:
            self.src_embed = nn.Embedding(source_vocab, dim)
            self.tgt_embed = nn.Embedding(target_vocab, dim)
        if positions == "learned":
            self.src_pos_embed = nn.Parameter(torch.zeros(1, max_len, dim))
            self.tgt_pos_embed = nn.Parameter(torch.zeros(1, max_len, dim))
        else:
            self.register_buffer("sinusoid", sinusoidal(max_len, dim), persistent=False)
        self.learned = positions == "learned"
        self.transformer = nn.Transformer(dim, heads, encoder_depth, decoder_depth, mlp_hidden, dropout,
                                          activation="gelu", layer_norm_eps=eps, batch_first=True, norm_first=pre_norm)
        if not tie_output:
            self.generator = nn.Linear(dim, target_vocab)

    def source_table(self):
        return self.embed if self.share else self.src_embed

    def target_table(self):
        return self.embed if self.share else self.tgt_embed

    def positions(self, which, first, n):
        if self.learned:
            return (self.src_pos_embed if which == "src" else self.tgt_pos_embed)[:, first: first + n]
        return self.sinusoid[first: first + n][None]

    def forward(self, source, source_lengths, target_in, target_lengths):
        s, t = source.shape[1], target_in.shape[1]
        src = self.source_table()(source) * math.sqrt(self.dim) + self.positions("src", 0, s)
        tgt = self.target_table()(target_in) * math.sqrt(self.dim) + self.positions("tgt", 0, t)
        src_pad = torch.arange(s)[None, :] >= source_lengths[:, None]
        tgt_pad = torch.arange(t)[None, :] >= target_lengths[:, None]
        causal = torch.full((t, t), float("-inf")).triu(1)
        h = self.transformer(src, tgt, tgt_mask=causal, src_key_padding_mask=src_pad,
                             tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
        return h @ self.target_table().weight.t() if self.tie else self.generator(h)  # [B, T, V]


def randomise(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            elif "embed" in name:
                p.copy_(0.5 * torch.randn(p.shape) / math.sqrt(model.dim))
            else:
                p.copy_(torch.randn(p.shape) / math.sqrt(p.shape[-1]))


def golden(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20261203)
    paths = []
    cases = (("seq2seq_pre_learned_shared", dict(pre_norm=True, positions="learned", share_embeddings=True,
                                                 tie_output=True), 40, 40),
             ("seq2seq_post_sinusoidal_separate", dict(pre_norm=False, positions="sinusoidal", share_embeddings=False,
                                                       tie_output=False), 40, 30))
    for name, kw, sv, tv in cases:
        model = Seq2SeqTransformer(sv, tv, max_len=12, dim=16, heads=2, encoder_depth=2, decoder_depth=2,
                                   mlp_hidden=32, **kw)
        randomise(model)
        model.eval()
        source = torch.randint(5, sv, (3, 10))
        source_lengths = torch.tensor([10, 6, 3])
        target_in = torch.randint(5, tv, (3, 8))
        target_lengths = torch.tensor([8, 4, 2])
        targets = torch.full((3, 8), -100)
        for b in range(3):
            source[b, source_lengths[b]:] = 0
            target_in[b, 0] = 2  # [CLS] begins the decoder's input
            target_in[b, target_lengths[b]:] = 0
            targets[b, : target_lengths[b]] = torch.randint(5, tv, (int(target_lengths[b]),))
        logits = model(source, source_lengths, target_in, target_lengths)  # [B, T, V]
        picked = logits.reshape(-1, tv)[(targets.reshape(-1) != -100).nonzero()[:, 0]]
        nn.functional.cross_entropy(picked, targets[targets != -100]).backward()
        tensors = {k: v.detach() for k, v in model.state_dict().items()}
        tensors.update({"golden.source": source, "golden.source_lengths": source_lengths,
                        "golden.target_in": target_in, "golden.target_lengths": target_lengths,
                        "golden.targets": targets, "golden.logits": logits.detach()})
        tensors.update({"golden.grad." + k: p.grad for k, p in model.named_parameters()})
        meta = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in kw.items()}
        meta.update({"source_vocab": str(sv), "target_vocab": str(tv),
                     "generator": f"tools/seq2seq.py, torch {torch.__version__}"})
        path = os.path.join(out_dir, name + ".safetensors")
        write_safetensors(path, tensors, meta)
        paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--golden", metavar="DIR", required=True, help="write the golden files to DIR")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("\n".join(golden(args.golden)))


if __name__ == "__main__":
    main()
