#!/usr/bin/python3
"""Golden files for attention: PyTorch's nn.MultiheadAttention (self- and cross-attention with
key padding and a causal mask) and the composed scaled dot-product form.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/make_golden_attention.py

Writes tests/golden/attention/<case>.safetensors (format: see tools/make_golden.py). Each file
holds the inputs, the module's parameters under PyTorch's names (in_proj_weight, in_proj_bias,
out_proj.weight, out_proj.bias), `key_lengths` (i64 [B]; PyTorch gets the equivalent boolean
key_padding_mask), `out`, `weights` (per-head attention probabilities [B, H, Tq, Tk]), `proj`
and `grad.<name>` = d(out * proj).sum() / d<name> for every input and parameter.
Metadata: heads, causal ("0"/"1"), generator.
"""

import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import write_safetensors  # noqa: E402

OUT_DIR = os.environ.get("HEED_GOLDEN_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "attention")
GENERATOR = f"tools/make_golden_attention.py, torch {torch.__version__}"


def padding_mask(lengths, t):
    """bool [B, t]: True where the key is padding (PyTorch's key_padding_mask convention)."""
    return torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]


def causal_mask(tq, tk):
    """Additive [tq, tk] mask, bottom-right aligned (query i sits at position i + tk - tq)."""
    i = torch.arange(tq)[:, None] + (tk - tq)
    j = torch.arange(tk)[None, :]
    return torch.zeros(tq, tk).masked_fill(j > i, float("-inf"))


def mha_case(name, batch, tq, tk, embed, heads, lengths, causal, cross):
    torch.manual_seed(zlib.crc32(name.encode()))
    mha = torch.nn.MultiheadAttention(embed, heads, batch_first=True, bias=True)
    with torch.no_grad():  # non-zero biases so their gradients and effect are tested
        mha.in_proj_bias.normal_(0, 0.1)
        mha.out_proj.bias.normal_(0, 0.1)
    inputs = {"x": torch.randn(batch, tq, embed)} if not cross else {
        "queries": torch.randn(batch, tq, embed), "memory": torch.randn(batch, tk, embed)}
    for t in inputs.values():
        t.requires_grad_(True)
    q = inputs["x"] if not cross else inputs["queries"]
    kv = inputs["x"] if not cross else inputs["memory"]
    out, weights = mha(q, kv, kv, key_padding_mask=padding_mask(lengths, tk),
                       attn_mask=causal_mask(tq, tk) if causal else None,
                       need_weights=True, average_attn_weights=False)
    proj = torch.randn(out.shape)
    (out * proj).sum().backward()
    params = dict(mha.named_parameters())
    tensors = {**{k: v.detach() for k, v in inputs.items()},
               **{k: v.detach() for k, v in params.items()},
               "key_lengths": torch.tensor(lengths, dtype=torch.int64),
               "out": out.detach(), "weights": weights.detach(), "proj": proj}
    for k, v in {**inputs, **params}.items():
        tensors["grad." + k] = v.grad
    meta = {"heads": str(heads), "causal": str(int(causal)), "cross": str(int(cross)),
            "generator": GENERATOR}
    write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors, meta)


def window_mask(tq, tk, window, causal):
    """Additive [tq, tk]: keep |pos(i) - j| < window (only j <= pos(i) when causal), written
    from the definition in docs/architecture.md, independently of heed's key ranges."""
    pos = torch.arange(tq)[:, None] + (tk - tq)
    j = torch.arange(tk)[None, :]
    keep = (pos - j).abs() < window
    if causal:
        keep &= j <= pos
    return torch.zeros(tq, tk).masked_fill(~keep, float("-inf"))


def sdpa_case(name, shape_q, tk, causal, window=0, mask=None, lengths=None):
    """mask: None, "additive" (random f32 [B, 1, Tq, Tk] with some -inf) or "boolean" (random
    i64 [B, H, Tq, Tk], 1 = attend). No row is fully masked here (PyTorch gives NaN for those;
    heed's zeros are tested against the closed form in tests/ops/attention_test.cpp)."""
    torch.manual_seed(zlib.crc32(name.encode()))
    b, h, tq, d = shape_q
    q = torch.randn(b, h, tq, d, requires_grad=True)
    k = torch.randn(b, h, tk, d, requires_grad=True)
    v = torch.randn(b, h, tk, d, requires_grad=True)
    s = q @ k.transpose(-1, -2) / d ** 0.5
    tensors = {}
    if causal and not window:
        s = s + causal_mask(tq, tk)
    if window:
        s = s + window_mask(tq, tk, window, causal)
    if lengths is not None:
        s = s.masked_fill(padding_mask(lengths, tk)[:, None, None, :], float("-inf"))
        tensors["key_lengths"] = torch.tensor(lengths, dtype=torch.int64)
    if mask == "additive":
        m = torch.randn(b, 1, tq, tk)
        m = m.masked_fill(torch.rand(b, 1, tq, tk) < 0.2, float("-inf"))
        m[..., -1] = 0.5  # the last key stays visible: no fully masked row
        s = s + m
        tensors["mask"] = m
    elif mask == "boolean":
        m = (torch.rand(b, h, tq, tk) < 0.7).to(torch.int64)
        m[..., 0] = 1
        s = s.masked_fill(m == 0, float("-inf"))
        tensors["mask"] = m
    out = torch.softmax(s, -1) @ v
    proj = torch.randn(out.shape)
    (out * proj).sum().backward()
    tensors.update({"q": q.detach(), "k": k.detach(), "v": v.detach(), "out": out.detach(),
                    "proj": proj, "grad.q": q.grad, "grad.k": k.grad, "grad.v": v.grad})
    write_safetensors(os.path.join(OUT_DIR, name + ".safetensors"), tensors,
                      {"causal": str(int(causal)), "window": str(window), "generator": GENERATOR})


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    mha_case("mha_self_padding_causal", 2, 5, 5, 16, 4, [5, 3], True, False)
    mha_case("mha_self_padding", 3, 6, 6, 24, 3, [6, 2, 4], False, False)
    mha_case("mha_cross_padding", 2, 3, 6, 16, 2, [6, 4], False, True)
    sdpa_case("sdpa_causal", (2, 2, 7, 8), 7, True)
    sdpa_case("sdpa_cross", (1, 3, 5, 16), 9, False)
    sdpa_case("sdpa_window", (2, 2, 9, 8), 9, False, window=3)
    sdpa_case("sdpa_window_causal", (1, 2, 10, 8), 10, True, window=4)
    sdpa_case("sdpa_window_cross", (1, 2, 4, 8), 11, False, window=5)
    sdpa_case("sdpa_additive", (2, 2, 6, 8), 7, False, mask="additive")
    sdpa_case("sdpa_boolean_padding", (2, 3, 5, 8), 6, False, mask="boolean", lengths=[6, 4])
    sdpa_case("sdpa_boolean_causal", (1, 2, 6, 16), 6, True, mask="boolean")
    print("wrote", sorted(os.listdir(OUT_DIR)))


if __name__ == "__main__":
    main()
