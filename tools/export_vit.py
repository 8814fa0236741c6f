#!/usr/bin/python3
"""A PyTorch Vision Transformer with timm's architecture and parameter names, and an exporter
that writes it as a heed checkpoint (docs/checkpoint-format.md).

Run from the repository root with Debian's python3 (torch 1.13; timm is not needed):

    # a PyTorch state_dict (timm's names, e.g. torch.save(timm_vit.state_dict(), "vit.pt"))
    /usr/bin/python3 tools/export_vit.py --torch-checkpoint vit.pt --config heed-config.json \
        --out model.safetensors [--mean 0.2860 --std 0.3530] [--class-names a,b,c]
    # a randomly initialised model (timm's init scheme)
    /usr/bin/python3 tools/export_vit.py --random --config heed-config.json --out model.safetensors
    # the golden file read by tests/nn/vit_test.cpp
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/export_vit.py \
        --golden tests/golden/vit

The model (class VisionTransformer below) is timm's VisionTransformer with class-token pooling:
    patch_embed.proj   Conv2d(C, D, kernel p, stride p)    weight [D, C, p, p], bias [D]
    cls_token          [1, 1, D]
    pos_embed          [1, N + 1, D]    (N = (H / p) * (W / p); added to [cls, patches])
    blocks.i.norm1     LayerNorm(D, eps)
    blocks.i.attn.qkv  Linear(D, 3 D)   (rows: q, k, v; heads contiguous inside each)
    blocks.i.attn.proj Linear(D, D)
    blocks.i.norm2     LayerNorm(D, eps)
    blocks.i.mlp.fc1   Linear(D, D * mlp_ratio), GELU (exact erf form)
    blocks.i.mlp.fc2   Linear(D * mlp_ratio, D)
    norm               LayerNorm(D, eps)
    head               Linear(D, classes), applied to the class token
Blocks are pre-norm (x + attn(norm1(x)), x + mlp(norm2(x))) like timm; heed's "norm": "post"
(norm1(x + attn(x)), norm2(x + mlp(x))) is supported too. Attention is
softmax(q k^T / sqrt(head_dim)) v. Dropout and drop-path are identity in eval mode and are not
modelled.

A heed checkpoint is a safetensors file holding the state_dict as F32 under the same names, and
the metadata heed's save_checkpoint writes (all values strings):
    format  "heed-checkpoint-1"
    task    "image-classification"
    model   "vit"
    config  JSON: {"model": {...}, "train": {...}, "data": {...}}, every key of heed's
            to_json(ImageClassifierConfig), compact, keys sorted (as nlohmann::json dumps them)
    trainer JSON: {"epoch", "batch", "global_step", "best_metric": null, "seed_state": [0, 0],
                   "normalization": {"mean": [...], "std": [...]}}
Float fields that heed stores as C++ float (lr, dropout, layer_norm_eps, ...) are rounded to
float32 first, so heed's to_json of the parsed config equals the JSON written here.

The golden files (--golden DIR -> DIR/vit_tiny.safetensors, and vit_tiny_postnorm.safetensors
with post-norm blocks) are a tiny random ViT (8x8 images,
1 channel, patch 4, dim 16, depth 2, heads 2, mlp_ratio 2, 3 classes) with non-trivial weights
(random biases, LayerNorm affines, class token and position embedding) exported as above, plus
two extra tensors:
    golden.images  [4, 1, 8, 8]  inputs, already normalised
    golden.logits  [4, 3]        the PyTorch model's output in eval mode (float32)
    golden.labels  [4]           class indices (int64)
    golden.grad.<parameter>      d cross_entropy(logits, labels, label_smoothing=0.1) / d parameter
It is byte-for-byte deterministic (fixed seed, one thread).
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import write_safetensors  # noqa: E402

FORMAT = "heed-checkpoint-1"
GOLDEN_SEED = 20240611

# ---------------------------------------------------------------- the model (timm's ViT)


class PatchEmbed(nn.Module):
    def __init__(self, channels, patch_size, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):  # [B, C, H, W] -> [B, N, D], patches in row-major grid order
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        assert dim % heads == 0, f"model.heads: {heads} heads do not divide model.dim = {dim}"
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each [B, heads, N, head_dim]
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) form, timm's default
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, eps, pre_norm=True):
        super().__init__()
        self.pre_norm = pre_norm
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        if self.pre_norm:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))
        x = self.norm1(x + self.attn(x))
        return self.norm2(x + self.mlp(x))


class VisionTransformer(nn.Module):
    """timm.models.vision_transformer.VisionTransformer (class token, no registers) with the
    same parameter names and state_dict order."""

    def __init__(self, image_height=28, image_width=28, channels=1, num_classes=10, patch_size=4,
                 dim=64, depth=6, heads=4, mlp_ratio=2.0, layer_norm_eps=1e-6, pre_norm=True):
        super().__init__()
        assert image_height % patch_size == 0 and image_width % patch_size == 0, \
            f"model.patch_size: {patch_size} does not divide the image size {image_height}x{image_width}"
        self.patch_size = patch_size
        self.patch_embed = PatchEmbed(channels, patch_size, dim)
        num_patches = (image_height // patch_size) * (image_width // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, layer_norm_eps, pre_norm)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.head = nn.Linear(dim, num_classes)
        self.init_weights()

    def init_weights(self):
        """timm's scheme: trunc_normal(0.02) for pos_embed and Linear weights, zero Linear
        biases, cls_token N(0, 1e-6), LayerNorm (1, 0), PyTorch's default for the patch conv."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


# ---------------------------------------------------------------- heed configuration

def f32(x):
    """A C++ float field as heed's to_json writes it (float32 widened to double)."""
    return float(np.float32(x))


# heed's defaults (src/heed/nn/models/vit.h, src/heed/train/image_classifier.h), per section:
# key -> (default, kind). Kinds: int, float32 (C++ float), float (C++ double), str, bool, list.
SCHEMA = {
    "model": {
        "patch_size": (4, "int"), "dim": (64, "int"), "depth": (6, "int"), "heads": (4, "int"),
        "mlp_ratio": (2.0, "float"), "dropout": (0.0, "float32"),
        "attention_dropout": (0.0, "float32"), "drop_path": (0.0, "float32"),
        "layer_norm_eps": (1e-6, "float32"), "norm": ("pre", "str"),
        "image_height": (28, "int"), "image_width": (28, "int"), "channels": (1, "int"),
        "num_classes": (10, "int"),
    },
    "train": {
        "epochs": (10, "int"), "batch_size": (128, "int"), "optimizer": ("adamw", "str"),
        "lr": (1e-3, "float32"), "min_lr": (1e-5, "float32"), "weight_decay": (0.05, "float"),
        "beta1": (0.9, "float"), "beta2": (0.999, "float"), "momentum": (0.9, "float"),
        "schedule": ("cosine", "str"), "warmup_epochs": (1.0, "float"),
        "label_smoothing": (0.0, "float32"), "clip_grad_norm": (0.0, "float32"),
        "seed": (0, "int"), "threads": (0, "int"), "replicas": (0, "int"), "log_every": (50, "int"),
        "time_limit_minutes": (0.0, "float"), "init_from": ("", "str"),
    },
    "data": {
        "dir": ("data/fashion-mnist", "str"), "validation_fraction": (0.1, "float"), "crop_padding": (0, "int"),
        "horizontal_flip": (False, "bool"), "eval_batch_size": (500, "int"),
        "class_names": ([], "list"),
    },
}


def resolve_config(user):
    """Fills heed's defaults into a heed config dict, rejecting unknown keys and wrong types like
    heed's parse_config does. Returns the full {"model", "train", "data"} layout."""
    if not isinstance(user, dict):
        raise SystemExit("config: the top level must be an object")
    if user.get("task", "image-classification") != "image-classification":
        raise SystemExit(f"config: task \"{user['task']}\" is not image-classification")
    for section in user:
        if section not in SCHEMA and section != "task":
            raise SystemExit(f"config: unknown key '{section}'")
    out = {"task": "image-classification"}
    for section, fields in SCHEMA.items():
        given = user.get(section, {})
        if not isinstance(given, dict):
            raise SystemExit(f"config: {section} must be an object")
        for key in given:
            if key not in fields:
                raise SystemExit(f"config: unknown key '{section}.{key}'")
        resolved = {}
        for key, (default, kind) in fields.items():
            v = given.get(key, default)
            where = f"{section}.{key}"
            if kind == "int":
                if isinstance(v, bool) or not isinstance(v, int):
                    raise SystemExit(f"config: {where} must be an integer, got {json.dumps(v)}")
            elif kind in ("float", "float32"):
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise SystemExit(f"config: {where} must be a number, got {json.dumps(v)}")
                v = f32(v) if kind == "float32" else float(v)
            elif kind == "str":
                if not isinstance(v, str):
                    raise SystemExit(f"config: {where} must be a string, got {json.dumps(v)}")
            elif kind == "bool":
                if not isinstance(v, bool):
                    raise SystemExit(f"config: {where} must be true or false, got {json.dumps(v)}")
            elif kind == "list":
                if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
                    raise SystemExit(f"config: {where} must be an array of strings")
                v = list(v)
            resolved[key] = v
        out[section] = resolved
    m = out["model"]
    if m["norm"] not in ("pre", "post"):
        raise SystemExit(f"config: model.norm must be \"pre\" or \"post\", got \"{m['norm']}\"")
    for key in ("image_height", "image_width", "channels", "num_classes", "patch_size", "dim",
                "depth", "heads"):
        if m[key] <= 0:
            raise SystemExit(f"model.{key} must be > 0, got {m[key]}")
    if m["image_height"] % m["patch_size"] or m["image_width"] % m["patch_size"]:
        raise SystemExit(f"model.patch_size: {m['patch_size']} does not divide the image size "
                         f"{m['image_height']}x{m['image_width']}")
    if m["dim"] % m["heads"]:
        raise SystemExit(f"model.heads: {m['heads']} heads do not divide model.dim = {m['dim']}")
    return out


def build_model(config):
    """The PyTorch ViT for a resolved heed config."""
    m = config["model"]
    return VisionTransformer(image_height=m["image_height"], image_width=m["image_width"],
                             channels=m["channels"], num_classes=m["num_classes"],
                             patch_size=m["patch_size"], dim=m["dim"], depth=m["depth"],
                             heads=m["heads"], mlp_ratio=m["mlp_ratio"],
                             layer_norm_eps=m["layer_norm_eps"], pre_norm=m["norm"] == "pre")


def heed_json(value):
    """Compact JSON with sorted keys: the text nlohmann::json::dump() gives for the same data."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def checkpoint_metadata(config_dict, normalization_mean, normalization_std, class_names,
                        epoch=None, global_step=0, best_metric=None):
    config = resolve_config(config_dict)
    channels, classes = config["model"]["channels"], config["model"]["num_classes"]
    mean = [f32(v) for v in normalization_mean]
    std = [f32(v) for v in normalization_std]
    if len(mean) != channels or len(std) != channels:
        raise SystemExit(f"normalization: need one mean and one std per channel ({channels}), "
                         f"got {len(mean)} and {len(std)}")
    if not all(s > 0 and math.isfinite(s) for s in std):
        raise SystemExit(f"normalization: every std must be positive and finite, got {std}")
    names = list(class_names) if class_names else config["data"]["class_names"]
    if not names:
        names = [str(i) for i in range(classes)]
    if len(names) != classes:
        raise SystemExit(f"class_names: {len(names)} names but the model has {classes} classes")
    config["data"]["class_names"] = names
    trainer = {
        "epoch": config["train"]["epochs"] if epoch is None else epoch,
        "batch": 0,
        "global_step": global_step,
        "best_metric": None if best_metric is None else float(best_metric),
        "seed_state": [0, 0],
        "normalization": {"mean": mean, "std": std},
    }
    return {
        "format": FORMAT,
        "task": "image-classification",
        "model": "vit",
        "config": heed_json(config),
        "trainer": heed_json(trainer),
    }


def check_model_matches_config(model, config):
    """The state_dict shapes must be those of the config's model (names checked by the caller)."""
    want = {k: tuple(v.shape) for k, v in build_model(config).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in want if k not in got]
    unexpected = [k for k in got if k not in want]
    if missing or unexpected:
        raise SystemExit(f"state_dict does not match the config: missing {missing}, unexpected {unexpected}")
    for k in want:
        if want[k] != got[k]:
            raise SystemExit(f"state_dict: '{k}' is {list(got[k])}, the config's model needs {list(want[k])}")


def export(model, path, config_dict, normalization_mean, normalization_std, class_names,
           extra_tensors=None):
    """Writes `model` (a VisionTransformer above, or any module with timm ViT's state_dict) as a
    heed checkpoint at `path`. `config_dict` is a heed config ({"model", "train", "data"}; missing
    keys take heed's defaults; model.image_height/image_width/channels/num_classes must describe
    the model). `extra_tensors` (name -> tensor) are appended after the model's tensors."""
    metadata = checkpoint_metadata(config_dict, normalization_mean, normalization_std, class_names)
    config = json.loads(metadata["config"])
    check_model_matches_config(model, config)
    tensors = {}
    for name, t in model.state_dict().items():
        if name.startswith("optimizer."):
            raise SystemExit(f"'{name}': the prefix optimizer. is reserved for optimiser state")
        tensors[name] = t.detach().to(torch.float32).contiguous()
    for name, t in (extra_tensors or {}).items():
        assert name not in tensors, name
        tensors[name] = t.detach().contiguous()
    tmp = path + ".tmp"
    write_safetensors(tmp, tensors, metadata)
    os.replace(tmp, path)  # atomic, like heed's writer
    return path


# ---------------------------------------------------------------- loading a PyTorch checkpoint

def load_torch_state_dict(path):
    """A state_dict saved with torch.save(model.state_dict()), possibly wrapped in a dict under
    "state_dict", "model" or "model_state_dict", possibly with a "module." prefix (DataParallel)."""
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: not a state_dict")
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items() if torch.is_tensor(v)}


def infer_model_config(state, user_config):
    """Fills the model section's sizes from the tensors where the config leaves them out (heads,
    mlp_ratio, layer_norm_eps and norm cannot be read from shapes and come from the config)."""
    config = json.loads(json.dumps(user_config))
    m = config.setdefault("model", {})
    w = state["patch_embed.proj.weight"]
    dim, channels, p = w.shape[0], w.shape[1], w.shape[2]
    depth = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    tokens = state["pos_embed"].shape[1]
    for key, value in (("dim", dim), ("channels", channels), ("patch_size", p), ("depth", depth),
                       ("num_classes", state["head.weight"].shape[0])):
        if key in m and m[key] != value:
            raise SystemExit(f"config: model.{key} is {m[key]} but the checkpoint has {value}")
        m[key] = int(value)
    if "image_height" not in m and "image_width" not in m:
        side = math.isqrt(tokens - 1)
        if side * side != tokens - 1:
            raise SystemExit("config: give model.image_height and model.image_width (the patch grid is not square)")
        m["image_height"] = m["image_width"] = int(side * p)
    if "mlp_ratio" not in m and "blocks.0.mlp.fc1.weight" in state:
        m["mlp_ratio"] = state["blocks.0.mlp.fc1.weight"].shape[0] / dim
    return config


# ---------------------------------------------------------------- golden file

GOLDEN_CONFIG = {
    "model": {"patch_size": 4, "dim": 16, "depth": 2, "heads": 2, "mlp_ratio": 2.0,
              "layer_norm_eps": 1e-6, "norm": "pre", "image_height": 8, "image_width": 8,
              "channels": 1, "num_classes": 3},
    "train": {"epochs": 3, "batch_size": 32, "threads": 1},
    "data": {"class_names": ["left", "middle", "right"]},
}
GOLDEN_MEAN, GOLDEN_STD = [0.25], [0.5]


def make_golden(out_dir):
    """Writes the pre-norm golden file, then the same for post-norm blocks; returns both paths."""
    post = {**GOLDEN_CONFIG, "model": {**GOLDEN_CONFIG["model"], "norm": "post"}}
    return [make_golden_file(out_dir, "vit_tiny.safetensors", GOLDEN_CONFIG, GOLDEN_SEED),
            make_golden_file(out_dir, "vit_tiny_postnorm.safetensors", post, GOLDEN_SEED + 1)]


def make_golden_file(out_dir, file_name, golden_config, seed):
    torch.manual_seed(seed)
    config = resolve_config(golden_config)
    model = build_model(config)
    # Non-trivial values everywhere (timm's init leaves biases 0 and LayerNorms at (1, 0)), scaled
    # so activations stay O(1): weights ~ N(0, 1/fan_in), biases and affines ~ N(0, 0.1^2).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("cls_token", "pos_embed"):
                p.copy_(0.5 * torch.randn(p.shape))
            elif "norm" in name and name.endswith(".weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape) / math.sqrt(fan_in))
    model.eval()
    images = torch.randn(4, 1, 8, 8)
    labels = torch.tensor([2, 0, 1, 2], dtype=torch.int64)
    logits = model(images)
    loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    grads = {"golden.grad." + name: p.grad.detach().clone() for name, p in model.named_parameters()}
    model.zero_grad()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, file_name)
    export(model, path, golden_config, GOLDEN_MEAN, GOLDEN_STD, None,
           extra_tensors={"golden.images": images, "golden.logits": logits.detach(),
                          "golden.labels": labels, **grads})
    return path


# ---------------------------------------------------------------- command line

def floats(text):
    return [float(v) for v in text.replace(",", " ").split()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--torch-checkpoint", metavar="FILE.pt", help="a saved PyTorch state_dict (timm names)")
    src.add_argument("--random", action="store_true", help="export a randomly initialised model")
    src.add_argument("--golden", metavar="DIR", help="write DIR/vit_tiny.safetensors (test reference)")
    ap.add_argument("--config", help="heed JSON config (model/train/data sections; heed's defaults fill the rest)")
    ap.add_argument("--out", help="output checkpoint (.safetensors)")
    ap.add_argument("--mean", type=floats, help="per-channel normalisation mean (default 0)")
    ap.add_argument("--std", type=floats, help="per-channel normalisation std (default 1)")
    ap.add_argument("--class-names", help="comma-separated class names (default: the config's, else 0, 1, ...)")
    ap.add_argument("--seed", type=int, default=0, help="seed for --random")
    args = ap.parse_args()
    torch.set_num_threads(1)

    if args.golden:
        print("\n".join(make_golden(args.golden)))
        return
    if not args.out:
        ap.error("--out is required with --torch-checkpoint and --random")
    user = {}
    if args.config:
        with open(args.config) as f:
            user = json.load(f)
    if args.torch_checkpoint:
        state = load_torch_state_dict(args.torch_checkpoint)
        config = resolve_config(infer_model_config(state, user))
        model = build_model(config)
        try:
            model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=True)
        except RuntimeError as e:
            raise SystemExit(f"{args.torch_checkpoint}: {e}")
    else:
        torch.manual_seed(args.seed)
        config = resolve_config(user)
        model = build_model(config)
    channels = config["model"]["channels"]
    mean = args.mean if args.mean is not None else [0.0] * channels
    std = args.std if args.std is not None else [1.0] * channels
    if args.mean is None or args.std is None:
        print("note: no --mean/--std given; heed will feed images scaled to [0, 1] with mean 0, std 1",
              file=sys.stderr)
    names = args.class_names.split(",") if args.class_names else None
    export(model, args.out, config, mean, std, names)
    print(args.out)


if __name__ == "__main__":
    main()
