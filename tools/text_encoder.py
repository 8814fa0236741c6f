#!/usr/bin/python3
"""PyTorch reference of heed's text encoders (src/heed/nn/models/text_encoder.h), with the same
parameter names, so heed checkpoints map 1:1, and the golden files of its tests.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/text_encoder.py --golden tests/golden/text

Names: tok_embed.weight [V, D], pos_embed [1, max_len, D], blocks.i.{norm1, attn.qkv, attn.proj,
norm2, mlp.fc1, mlp.fc2}.* (timm's Block), norm.*; the classifier's head.{weight, bias}; the
masked LM's mlm.dense.*, mlm.norm.*, mlm.bias (decoder tied to tok_embed.weight); the causal LM
has no parameter of its own (causal attention, output tied to tok_embed.weight, no bias).

Inputs are right-padded token ids [B, T] and lengths [B]: keys at positions >= length are
masked out of every query's attention (what heed's key_lengths do). Pooling: "cls" takes
position 0; "mean" averages the first `length` positions.

--golden DIR writes DIR/text_classifier_*.safetensors (and text_mlm, text_causal_lm_{pre,post}): a small random
model with non-trivial weights, tokens, lengths, labels, the logits in eval mode, and every
parameter's gradient of cross_entropy(logits, labels) (format: tools/make_golden.py).
"""
import argparse
import math
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_vit import Mlp  # noqa: E402  (timm's Mlp: fc1, exact GELU, fc2)
from make_golden import write_safetensors  # noqa: E402


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, lengths, causal=False):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        padding = torch.arange(n)[None, :] >= lengths[:, None]  # [B, N] True at padded keys
        s = s.masked_fill(padding[:, None, None, :], float("-inf"))
        if causal:  # query i sees keys j <= i
            s = s.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
        return self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


    def forward_cached(self, x, past):
        """HF-style incremental attention: the new positions' keys and values appended to `past`
        (torch.cat, as past_key_values do); new query i sits at position len(past) + i."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        t = k.shape[2]
        if n > 1:
            s = s.masked_fill(torch.ones(n, t, dtype=torch.bool).triu(t - n + 1), float("-inf"))
        return self.proj((s.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)), (k, v)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x, lengths, causal=False):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x), lengths, causal)
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x, lengths, causal))
        return self.norm2(x + self.mlp(x))

    def forward_cached(self, x, past):
        if self.pre_norm:
            a, past = self.attn.forward_cached(self.norm1(x), past)
            x = x + a
            return x + self.mlp(self.norm2(x)), past
        a, past = self.attn.forward_cached(x, past)
        x = self.norm1(x + a)
        return self.norm2(x + self.mlp(x)), past


class TextEncoder(nn.Module):
    def __init__(self, vocab_size, max_len=256, dim=128, depth=4, heads=4, mlp_ratio=4.0, eps=1e-6, pre_norm=True):
        super().__init__()
        self.tok_embed = nn.Embedding(vocab_size, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, max_len, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio, eps, pre_norm) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)

    causal = False

    def encode(self, tokens, lengths):
        h = self.tok_embed(tokens) + self.pos_embed[:, : tokens.shape[1]]
        for block in self.blocks:
            h = block(h, lengths, self.causal)
        return self.norm(h)


class TextClassifier(TextEncoder):
    def __init__(self, vocab_size, num_classes, pooling="cls", **kw):
        super().__init__(vocab_size, **kw)
        self.pooling = pooling
        self.head = nn.Linear(self.norm.normalized_shape[0], num_classes)

    def pool(self, h, lengths):
        if self.pooling == "cls":
            return h[:, 0]
        keep = (torch.arange(h.shape[1])[None, :] < lengths[:, None]).float()
        return (h * keep[:, :, None]).sum(1) / keep.sum(1, keepdim=True)

    def pooled(self, tokens, lengths):
        return self.pool(self.encode(tokens, lengths), lengths)

    def forward(self, tokens, lengths):
        if tokens.dim() == 3:
            return self.head(over_windows(self.pooled, tokens, lengths))
        return self.head(self.pooled(tokens, lengths))


def over_windows(pooled_of, tokens, lengths):
    """Windows of long texts (heed's data.max_windows): tokens [B, W, T] and lengths [B, W], 0 for a
    record's missing windows. Every window is encoded and pooled alone by pooled_of (a missing one
    as length 1, then weighted 0) and a record's windows are averaged: [B, D] for the head."""
    b, w, t = tokens.shape
    present = (lengths > 0).float()
    pooled = pooled_of(tokens.reshape(b * w, t), lengths.reshape(b * w).clamp(min=1))
    return ((present / present.sum(1, keepdim=True))[:, :, None] * pooled.reshape(b, w, -1)).sum(1)


class MaskedLanguageModel(TextEncoder):
    def __init__(self, vocab_size, **kw):
        super().__init__(vocab_size, **kw)
        dim = self.norm.normalized_shape[0]
        self.mlm = nn.Module()
        self.mlm.dense = nn.Linear(dim, dim)
        self.mlm.norm = nn.LayerNorm(dim, eps=self.norm.eps)
        self.mlm.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, tokens, lengths, mlm_labels):
        h = self.encode(tokens, lengths).reshape(-1, self.norm.normalized_shape[0])
        picked = h[(mlm_labels.reshape(-1) != -100).nonzero()[:, 0]]  # row-major, as heed gathers
        x = self.mlm.norm(nn.functional.gelu(self.mlm.dense(picked)))
        return x @ self.tok_embed.weight.t() + self.mlm.bias


class CausalLanguageModel(TextEncoder):
    """GPT's shape on the same trunk: causal self-attention, the next token predicted at every
    position by the tied token embedding (no output bias)."""
    causal = True

    def forward(self, tokens, lengths):
        return self.encode(tokens, lengths) @ self.tok_embed.weight.t()  # [B, T, V]

    def step(self, tokens, past=None):
        """tokens [B, Tn] after the positions `past` holds -> (last position's logits [B, V],
        the new past): the decoding loop of Hugging Face's past_key_values."""
        start = 0 if past is None else past[0][0].shape[2]
        h = self.tok_embed(tokens) + self.pos_embed[:, start: start + tokens.shape[1]]
        new_past = []
        for i, block in enumerate(self.blocks):
            h, p = block.forward_cached(h, None if past is None else past[i])
            new_past.append(p)
        return self.norm(h[:, -1]) @ self.tok_embed.weight.t(), new_past

    def greedy(self, prompt, max_tokens):
        """Greedy decoding with the cache: the tokens after `prompt` (a list of ids)."""
        with torch.no_grad():
            logits, past = self.step(torch.tensor([prompt]))
            out = []
            for _ in range(max_tokens):
                token = int(logits[0].argmax())
                out.append(token)
                if len(out) == max_tokens:
                    break
                logits, past = self.step(torch.tensor([[token]]), past)
            return out

    def beam(self, prompt, max_tokens, beams):
        """Beam search with the cache as Hugging Face's runs it: each step's (beam, token)
        continuations by summed log-probability (in float64, as heed sums them), the best `beams`
        kept, the cache's rows reordered with index_select (its _reorder_cache). No end token, so
        every hypothesis runs max_tokens; returns the best one's tokens."""
        with torch.no_grad():
            logits, past = self.step(torch.tensor([prompt]))
            sequences, scores = [[]], torch.zeros(1, dtype=torch.float64)
            for step in range(max_tokens):
                candidates = torch.log_softmax(logits.double(), -1) + scores[:, None]  # [live, V]
                top = torch.topk(candidates.reshape(-1), beams)
                parents, tokens = top.indices // candidates.shape[1], top.indices % candidates.shape[1]
                sequences = [sequences[p] + [t] for p, t in zip(parents.tolist(), tokens.tolist())]
                scores = top.values
                if step + 1 == max_tokens:
                    break
                past = [(k.index_select(0, parents), v.index_select(0, parents)) for k, v in past]
                logits, past = self.step(tokens[:, None], past)
            return sequences[0]


def randomise(model):
    """Non-trivial values everywhere, scaled so activations stay O(1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape))
            elif name.endswith("bias") or name == "mlm.bias":
                p.copy_(0.1 * torch.randn(p.shape))
            elif name in ("tok_embed.weight", "pos_embed"):
                p.copy_(0.5 * torch.randn(p.shape))
            else:
                p.copy_(torch.randn(p.shape) / math.sqrt(p.shape[-1]))


def classifier_case(path, model, tokens, lengths, labels, metadata):
    """A classifier golden file: random weights, the logits in eval mode and every gradient of
    the cross-entropy."""
    randomise(model)
    model.eval()
    logits = model(tokens, lengths)
    nn.functional.cross_entropy(logits, labels).backward()
    tensors = {k: v.detach() for k, v in model.state_dict().items()}
    tensors.update({"golden.tokens": tokens, "golden.lengths": lengths, "golden.labels": labels,
                    "golden.logits": logits.detach()})
    tensors.update({"golden.grad." + k: p.grad for k, p in model.named_parameters()})
    write_safetensors(path, tensors, dict(metadata, generator=f"tools/text_encoder.py, torch {torch.__version__}"))
    return path


def golden(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20261201)
    vocab, max_len = 40, 12
    tokens = torch.randint(5, vocab, (3, 9))
    lengths = torch.tensor([9, 5, 2])
    for b in range(3):
        tokens[b, 0] = 2  # [CLS]
        tokens[b, lengths[b]:] = 0  # padding
    paths = []
    for pooling, norm in (("cls", "pre"), ("mean", "post")):
        model = TextClassifier(vocab, 3, pooling=pooling, max_len=max_len, dim=16, depth=2, heads=2,
                               mlp_ratio=2.0, pre_norm=norm == "pre")
        paths.append(classifier_case(os.path.join(out_dir, f"text_classifier_{pooling}_{norm}.safetensors"), model,
                                     tokens, lengths, torch.tensor([2, 0, 1]), {"pooling": pooling, "norm": norm}))
    model = MaskedLanguageModel(vocab, max_len=max_len, dim=16, depth=2, heads=2, mlp_ratio=2.0)
    randomise(model)
    model.eval()
    mlm_labels = torch.full((3, 9), -100)
    for b, p in ((0, 1), (0, 4), (1, 3), (2, 1)):
        mlm_labels[b, p] = int(tokens[b, p])
    tokens_masked = tokens.clone()
    tokens_masked[mlm_labels != -100] = 4  # [MASK]
    logits = model(tokens_masked, lengths, mlm_labels)
    targets = mlm_labels[mlm_labels != -100]
    nn.functional.cross_entropy(logits, targets).backward()
    tensors = {k: v.detach() for k, v in model.state_dict().items()}
    tensors.update({"golden.tokens": tokens_masked, "golden.lengths": lengths, "golden.mlm_labels": mlm_labels,
                    "golden.logits": logits.detach()})
    tensors.update({"golden.grad." + k: p.grad for k, p in model.named_parameters()})
    path = os.path.join(out_dir, "text_mlm.safetensors")
    write_safetensors(path, tensors, {"generator": f"tools/text_encoder.py, torch {torch.__version__}"})
    paths.append(path)
    for norm in ("pre", "post"):
        model = CausalLanguageModel(vocab, max_len=max_len, dim=16, depth=2, heads=2, mlp_ratio=2.0,
                                    pre_norm=norm == "pre")
        randomise(model)
        model.eval()
        targets = torch.full((3, 9), -100)  # the next token where there is one
        for b in range(3):
            targets[b, : lengths[b] - 1] = tokens[b, 1: lengths[b]]
        logits = model(tokens, lengths)  # [B, T, V], every position
        picked = logits.reshape(-1, vocab)[(targets.reshape(-1) != -100).nonzero()[:, 0]]
        nn.functional.cross_entropy(picked, targets[targets != -100]).backward()
        tensors = {k: v.detach() for k, v in model.state_dict().items()}
        tensors.update({"golden.tokens": tokens, "golden.lengths": lengths, "golden.targets": targets,
                        "golden.logits": logits.detach()})
        tensors.update({"golden.grad." + k: p.grad for k, p in model.named_parameters()})
        path = os.path.join(out_dir, f"text_causal_lm_{norm}.safetensors")
        write_safetensors(path, tensors, {"norm": norm, "generator": f"tools/text_encoder.py, torch {torch.__version__}"})
        paths.append(path)
    # Windows of long texts (heed's data.max_windows): 2 records of up to 3 windows of 6 tokens, the
    # second with one window missing (length 0, padding only). Its own seed: the files above stay.
    torch.manual_seed(20261207)
    windows = torch.randint(5, vocab, (2, 3, 6))
    window_lengths = torch.tensor([[6, 6, 3], [5, 4, 0]])
    for b in range(2):
        for w in range(3):
            windows[b, w, 0] = 2  # every window starts with [CLS]
            windows[b, w, window_lengths[b, w]:] = 0
    for pooling in ("cls", "mean"):
        model = TextClassifier(vocab, 3, pooling=pooling, max_len=max_len, dim=16, depth=2, heads=2, mlp_ratio=2.0)
        paths.append(classifier_case(os.path.join(out_dir, f"text_classifier_windows_{pooling}.safetensors"), model,
                                     windows, window_lengths, torch.tensor([1, 2]), {"pooling": pooling, "norm": "pre"}))
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--golden", metavar="DIR", default=os.environ.get("HEED_GOLDEN_OUT"),
                    help="write the golden files to DIR (default: $HEED_GOLDEN_OUT, as the test of the generators sets)")
    args = ap.parse_args()
    if not args.golden:
        ap.error("--golden DIR is required")
    torch.set_num_threads(1)
    print("\n".join(golden(args.golden)))


if __name__ == "__main__":
    main()
