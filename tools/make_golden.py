#!/usr/bin/python3
"""Generate golden reference files for every differentiable op.

Run from the repository root with Debian's python3 (it has torch + numpy):

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/make_golden.py

Writes one file per case to tests/golden/ops/<case>.safetensors. The output is
byte-for-byte deterministic (fixed seed per case, single thread), so re-running
it only rewrites identical files.

Each file is a hand-written safetensors file:
    u64 little-endian N | N bytes of JSON header (space-padded to a multiple of 8) | raw data
The JSON maps every tensor name to
    {"dtype": "F32" | "I64", "shape": [...], "data_offsets": [begin, end]}
(offsets relative to the start of the data section, tensors stored contiguously
in insertion order, little-endian) plus "__metadata__": {str: str}.

Tensors in each file, in this order:
    <input>      every input, under the name given in CASES (F32, or I64 for indices)
    out          the op's output, computed in float32
    proj         randn tensor with out's shape
    grad.<input> d/d<input> of (out * proj).sum(), for every float input
Metadata: "op" (engine op name), the case's attributes as strings (floats via
repr()), and "generator" = "tools/make_golden.py, torch <version>".

Randomness: torch.manual_seed(zlib.crc32(case name)) right before the case's
inputs are drawn (in listed order), then proj is drawn.
"""

import json
import os
import struct
import zlib

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.environ.get("HEED_GOLDEN_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "ops")
GENERATOR = f"tools/make_golden.py, torch {torch.__version__}"


def randn(*shape):
    return torch.randn(tuple(shape), dtype=torch.float32)  # randn() with no dims gives a 0-d scalar


def randn_away_from_zero(*shape, margin=0.05):
    """randn, with values in (-margin, margin) pushed out by 2*margin (keeps relu' well defined)."""
    x = randn(*shape)
    push = torch.where(x >= 0, torch.full_like(x, 2 * margin), torch.full_like(x, -2 * margin))
    return torch.where(x.abs() < margin, x + push, x)


def ids(values):
    return torch.tensor(values, dtype=torch.int64)


def patchify(x, p):
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


# (case name, op, attributes, inputs (drawn in order after seeding), formula)
CASES = [
    ("matmul", "matmul", {}, lambda: dict(a=randn(2, 3, 4, 5), b=randn(2, 3, 5, 6)), lambda a, b: a @ b),
    ("matmul_broadcast", "matmul", {}, lambda: dict(a=randn(2, 7, 5), b=randn(5, 3)), lambda a, b: a @ b),
    ("linear", "linear", {}, lambda: dict(x=randn(3, 4, 8), weight=randn(6, 8), bias=randn(6)),
     lambda x, weight, bias: F.linear(x, weight, bias)),
    ("linear_nobias", "linear", {}, lambda: dict(x=randn(5, 8), weight=randn(6, 8)),
     lambda x, weight: F.linear(x, weight)),
    ("add", "add", {}, lambda: dict(a=randn(2, 3, 4), b=randn(3, 1)), lambda a, b: a + b),
    ("sub", "sub", {}, lambda: dict(a=randn(2, 1, 4), b=randn(3, 4)), lambda a, b: a - b),
    ("mul", "mul", {}, lambda: dict(a=randn(2, 3, 4), b=randn(4)), lambda a, b: a * b),
    ("mul_same", "mul", {}, lambda: dict(a=randn(3, 5), b=randn(3, 5)), lambda a, b: a * b),
    ("scale", "scale", {"scale": 0.37}, lambda: dict(x=randn(3, 5)), lambda x: x * 0.37),
    ("gelu", "gelu", {}, lambda: dict(x=randn(4, 7)), lambda x: F.gelu(x)),  # exact erf form
    ("relu", "relu", {}, lambda: dict(x=randn_away_from_zero(4, 7)), lambda x: F.relu(x)),
    ("tanh", "tanh", {}, lambda: dict(x=randn(4, 7)), lambda x: torch.tanh(x)),
    ("softmax", "softmax", {}, lambda: dict(x=randn(3, 4, 9)), lambda x: F.softmax(x, dim=-1)),
    ("log_softmax", "log_softmax", {}, lambda: dict(x=randn(3, 4, 9)), lambda x: F.log_softmax(x, dim=-1)),
    ("layer_norm", "layer_norm", {"eps": 1e-5},
     lambda: dict(x=randn(2, 5, 16), weight=1 + 0.1 * randn(16), bias=0.1 * randn(16)),
     lambda x, weight, bias: F.layer_norm(x, (16,), weight, bias, eps=1e-5)),
    ("embedding", "embedding", {},
     lambda: dict(ids=ids([[1, 3, 3, 0, 9], [9, 9, 2, 1, 5]]), weight=randn(10, 6)),
     lambda ids, weight: F.embedding(ids, weight)),
    ("cross_entropy", "cross_entropy", {"ignore_index": -100, "label_smoothing": 0.1},
     lambda: dict(logits=randn(6, 5), targets=ids([1, 4, -100, 0, 2, 3])),
     lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.1)),
    ("cross_entropy_plain", "cross_entropy", {"ignore_index": -100, "label_smoothing": 0.0},
     lambda: dict(logits=randn(6, 5), targets=ids([1, 4, 2, 0, 2, 3])),
     lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0)),
    ("cross_entropy_weighted", "cross_entropy", {"ignore_index": -100, "label_smoothing": 0.0,
                                                  "weight": "0.5,2,1,0.25,3"},
     lambda: dict(logits=randn(7, 5), targets=ids([1, 4, -100, 0, 2, 3, 1])),
     lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100,
                                             weight=torch.tensor([0.5, 2, 1, 0.25, 3]))),
    ("cross_entropy_weighted_smoothing", "cross_entropy", {"ignore_index": -100, "label_smoothing": 0.2,
                                                            "weight": "0.5,2,1,0.25,3"},
     lambda: dict(logits=randn(7, 5), targets=ids([1, 4, -100, 0, 2, 3, 1])),
     lambda logits, targets: F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.2,
                                             weight=torch.tensor([0.5, 2, 1, 0.25, 3]))),
    ("sum", "sum", {}, lambda: dict(x=randn(3, 4)), lambda x: x.sum()),
    ("mean", "mean", {}, lambda: dict(x=randn(3, 4)), lambda x: x.mean()),
    ("sum_dim", "sum_dim", {"dim": 1, "keepdim": 0}, lambda: dict(x=randn(3, 4, 5)), lambda x: x.sum(1)),
    ("mean_dim", "mean_dim", {"dim": -1, "keepdim": 1}, lambda: dict(x=randn(3, 4, 5)),
     lambda x: x.mean(-1, keepdim=True)),
    ("permute", "permute", {"dims": "2,0,1"}, lambda: dict(x=randn(2, 3, 4)),
     lambda x: x.permute(2, 0, 1).contiguous()),
    ("concat", "concat", {"dim": 1}, lambda: dict(a=randn(2, 3), b=randn(2, 5)), lambda a, b: torch.cat([a, b], 1)),
    ("slice", "slice", {"dim": 1, "start": 1, "end": 4}, lambda: dict(x=randn(4, 6)), lambda x: x[:, 1:4]),
    ("reshape", "reshape", {"shape": "6,4"}, lambda: dict(x=randn(2, 3, 4)), lambda x: x.reshape(6, 4)),
    ("patchify", "patchify", {"patch": 4}, lambda: dict(x=randn(2, 3, 8, 8)), lambda x: patchify(x, 4)),
]


def check_patchify_matches_conv():
    """A Linear on patchify() output must equal timm's PatchEmbed conv (weights reshaped D,C,p,p)."""
    torch.manual_seed(12345)
    b, c, h, w, p, d = 2, 3, 8, 8, 4, 5
    x, weight = randn(b, c, h, w), randn(d, c * p * p)
    conv = F.conv2d(x, weight.reshape(d, c, p, p), stride=p).flatten(2).transpose(1, 2)
    lin = patchify(x, p) @ weight.T
    assert conv.shape == lin.shape == (b, (h // p) * (w // p), d), (conv.shape, lin.shape)
    assert torch.allclose(conv, lin, atol=1e-5, rtol=1e-5), (conv - lin).abs().max()


def attr_str(v):
    return repr(v) if isinstance(v, float) else str(v)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dtype, arr = "F32", t.numpy().astype("<f4")
        elif t.dtype == torch.int64:
            dtype, arr = "I64", t.numpy().astype("<i8")
        else:
            raise TypeError(f"{name}: unsupported dtype {t.dtype}")
        blob = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hdr = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hdr += b" " * (-len(hdr) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for blob in blobs:
            f.write(blob)


def run_case(name, op, attrs, make_inputs, fn):
    torch.manual_seed(zlib.crc32(name.encode()))
    inputs = make_inputs()
    float_names = [k for k, v in inputs.items() if v.is_floating_point()]
    for k in float_names:
        inputs[k].requires_grad_(True)
    out = fn(**inputs)
    proj = randn(*out.shape)
    grads = torch.autograd.grad((out * proj).sum(), [inputs[k] for k in float_names])

    tensors = dict(inputs)
    tensors["out"] = out
    tensors["proj"] = proj
    for k, g in zip(float_names, grads):
        tensors[f"grad.{k}"] = g
    metadata = {"op": op, **{k: attr_str(v) for k, v in attrs.items()}, "generator": GENERATOR}
    path = os.path.join(OUT_DIR, f"{name}.safetensors")
    write_safetensors(path, tensors, metadata)
    return path


def main():
    torch.set_num_threads(1)  # bit-reproducible reductions
    check_patchify_matches_conv()
    os.makedirs(OUT_DIR, exist_ok=True)
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case name"
    for case in CASES:
        path = run_case(*case)
        print(f"{os.path.relpath(path)}  {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
