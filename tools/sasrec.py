#!/usr/bin/python3
"""PyTorch reference of heed's SASRec (src/heed/nn/models/sasrec.h), with the same parameter
names, so heed checkpoints map 1:1, and the golden file of its test.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/sasrec.py --golden tests/golden/sasrec

Names: item_embed.weight [items + 1, D] (row 0 pads), pos_embed [1, max_len, D],
blocks.i.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}.* (timm's Block, pre-norm, exact
GELU), norm.*. `positions`: "start" (position p) or "end" (length - 1 - p). Inputs are right-padded item ids [B, T] and lengths [B]; attention is causal and
keys at positions >= length are masked (heed's causal + key_lengths). The score of item j at a
position is h . item_embed.weight[j]. Dropout sites (training only): after the embeddings, after
the attention projection, after the MLP's GELU and its fc2 (heed's FeedForward and attention).

--golden DIR writes DIR/sasrec.safetensors: a small random model, items, lengths, next items and
negatives, the eval-mode scores at each row's last position, the BCE scores (next, negative) at
every position with a next item, and every parameter's gradient of the full cross-entropy over
those positions (format: tools/make_golden.py).
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


class CausalAttention(nn.Module):
    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, lengths):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        future = torch.ones(n, n, dtype=torch.bool).triu(1)
        padding = torch.arange(n)[None, :] >= lengths[:, None]
        s = s.masked_fill(future[None, None] | padding[:, None, None, :], float("-inf"))
        p = s.softmax(-1)  # every row has a key: lengths >= 1, and padded queries see the real keys
        return self.drop(self.proj((p @ v).transpose(1, 2).reshape(b, n, c)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = CausalAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, max(1, int(dim * mlp_ratio)))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, lengths):
        x = x + self.attn(self.norm1(x), lengths)
        m = self.mlp
        return x + self.drop(m.fc2(self.drop(m.act(m.fc1(self.norm2(x))))))


class SasRec(nn.Module):
    def __init__(self, items, max_len=200, dim=64, depth=2, heads=1, mlp_ratio=1.0, eps=1e-8, dropout=0.0,
                 positions="start"):
        super().__init__()
        self.dim, self.positions = dim, positions
        self.item_embed = nn.Embedding(items + 1, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, max_len, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio, eps, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.drop = nn.Dropout(dropout)

    def encode(self, items, lengths):
        t = items.shape[1]
        if self.positions == "start":
            pos = self.pos_embed[:, :t]
        else:  # "end": position L - 1 - p for p < L, 0 for padding (heed's positions_from_end)
            p = torch.arange(t)[None, :]
            pos = self.pos_embed[0][torch.where(p < lengths[:, None], lengths[:, None] - 1 - p, 0)]
        h = self.item_embed(items) * math.sqrt(self.dim) + pos
        h = self.drop(h)
        for block in self.blocks:
            h = block(h, lengths)
        return self.norm(h)

    def last_scores(self, items, lengths):
        h = self.encode(items, lengths)
        last = h[torch.arange(items.shape[0]), (lengths - 1).clamp(min=0)]
        return last @ self.item_embed.weight.t()


def randomise(model):
    """Non-trivial values everywhere, scaled so activations stay O(1)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            elif name in ("item_embed.weight", "pos_embed"):
                p.copy_(0.2 * torch.randn(p.shape))
            else:
                p.copy_(torch.randn(p.shape) / math.sqrt(p.shape[-1]))


def golden(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(20261202)
    items, max_len = 20, 8
    model = SasRec(items, max_len=max_len, dim=16, depth=2, heads=2, mlp_ratio=1.0)
    randomise(model)
    model.eval()
    lengths = torch.tensor([6, 4, 2])
    seq = torch.randint(1, items + 1, (3, 7))
    inputs, nxt, neg = seq[:, :6].clone(), seq[:, 1:].clone(), torch.randint(1, items + 1, (3, 6))
    for b in range(3):
        inputs[b, lengths[b]:] = 0
        nxt[b, lengths[b]:] = 0
        neg[b, lengths[b]:] = 0
    scores = model.last_scores(inputs, lengths)
    h = model.encode(inputs, lengths)
    keep = nxt != 0
    picked = h[keep]
    e = model.item_embed.weight
    bce = torch.stack([(picked * e[nxt[keep]]).sum(-1), (picked * e[neg[keep]]).sum(-1)], 1)
    nn.functional.cross_entropy(picked @ e.t(), nxt[keep]).backward()
    tensors = {k: v.detach() for k, v in model.state_dict().items()}
    tensors.update({"golden.items": inputs, "golden.lengths": lengths, "golden.next_items": nxt,
                    "golden.negatives": neg, "golden.scores": scores.detach(), "golden.bce_logits": bce.detach()})
    tensors.update({"golden.grad." + k: p.grad for k, p in model.named_parameters()})
    path = os.path.join(out_dir, "sasrec.safetensors")
    write_safetensors(path, tensors, {"generator": f"tools/sasrec.py, torch {torch.__version__}"})
    return [path]


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
