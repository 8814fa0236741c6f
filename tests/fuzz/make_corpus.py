#!/usr/bin/python3
"""Writes the seed corpora of the libFuzzer targets to tests/fuzz/corpus/<target>/.

Standard library only. Deterministic: running it again rewrites the same bytes, so the committed
corpus can be checked with `git diff`. Each file is a few hundred bytes at most (all < 4 KB):
valid files of every supported flavour plus typical broken ones (truncated, wrong magic, lengths
that lie, overlapping offsets, ...), which give the mutator the format's structure to work from.

    /usr/bin/python3 tests/fuzz/make_corpus.py
"""

import gzip
import json
import os
import shutil
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 4096, (target, name, len(data))
    path = os.path.join(ROOT, target, name)
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0 keeps the output identical from run to run.
    return gzip.compress(data, compresslevel=9, mtime=0)


# ---------------------------------------------------------------- safetensors

def safetensors(header, data=b"", pad=True):
    text = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    t = "safetensors"
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, float("inf"))
    write(t, "valid_f32", safetensors({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32))
    write(t, "valid_metadata", safetensors(
        {"__metadata__": {"format": "pt", "note": "h\u00e9llo"},
         "bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
         "step": {"dtype": "I64", "shape": [], "data_offsets": [4, 12]}},
        struct.pack("<f", 0.5) + struct.pack("<q", 7)))
    # Every dtype the reader converts, one tensor each, in one file.
    parts = [("F64", struct.pack("<2d", 1e300, -1e-300)), ("F16", struct.pack("<2H", 0x3c00, 0x7c01)),
             ("BF16", struct.pack("<2H", 0x3f80, 0xff80)), ("I32", struct.pack("<2i", -1, 2**31 - 1)),
             ("I16", struct.pack("<2h", -32768, 5)), ("I8", struct.pack("<2b", -128, 127)),
             ("U8", bytes([0, 255])), ("BOOL", bytes([0, 3]))]
    header, data = {}, b""
    for dtype, raw in parts:
        header[dtype.lower()] = {"dtype": dtype, "shape": [2], "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    write(t, "valid_all_dtypes", safetensors(header, data))
    write(t, "valid_empty_tensor", safetensors(
        {"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
         "s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, struct.pack("<f", 3.0)))
    write(t, "valid_unpadded", safetensors({"x": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}},
                                           b"abc", pad=False))
    write(t, "valid_no_tensors", safetensors({}))
    # An int8 checkpoint's layout (docs/checkpoint-format.md): I8 weights, an F32 scale per output
    # row, the quantization metadata; and a bf16 weight as Hugging Face stores one.
    write(t, "valid_int8_checkpoint", safetensors(
        {"__metadata__": {"format": "heed", "quantization": "int8"},
         "fc.weight": {"dtype": "I8", "shape": [2, 3], "data_offsets": [0, 6]},
         "fc.weight_scale": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]},
         "fc.bias": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]}},
        struct.pack("<6b", -127, 0, 127, 5, -5, 1) + bytes(2) + struct.pack("<2f", 0.01, 0.02) +
        struct.pack("<2H", 0x3f80, 0xbf00)))
    write(t, "bad_bf16_odd_bytes", safetensors({"b": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 5]}},
                                               bytes(5)))
    write(t, "bad_i8_past_end", safetensors({"q": {"dtype": "I8", "shape": [4, 4], "data_offsets": [0, 16]}},
                                            bytes(9)))
    # Broken ones.
    good = safetensors({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}, f32)
    write(t, "bad_truncated_data", good[:-3])
    write(t, "bad_truncated_header", good[:20])
    write(t, "bad_short", b"\x10\x00\x00")
    write(t, "bad_header_len_huge", struct.pack("<Q", 2**63) + b"{}")
    write(t, "bad_header_len_zero", struct.pack("<Q", 0) + b"{}")
    write(t, "bad_overlap", safetensors(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
    write(t, "bad_offsets_mismatch", safetensors({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, bytes(8)))
    write(t, "bad_shape_overflow", safetensors(
        {"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}))
    write(t, "bad_negative_dim", safetensors({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)))
    write(t, "bad_dtype", safetensors({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, bytes(8)))
    write(t, "bad_duplicate_key", safetensors(
        b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x"))
    write(t, "bad_nesting", safetensors(b"[" * 40 + b"]" * 40))
    write(t, "bad_metadata_type", safetensors({"__metadata__": {"k": 1}}))
    write(t, "bad_not_json", safetensors(b'{"a": tru', b""))
    write(t, "bad_extra_field", safetensors(
        {"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 0}}, b"z"))


# ---------------------------------------------------------------- IDX

def idx(dims, payload, dtype=0x08):
    head = bytes([0, 0, dtype, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + bytes(payload)


def idx_corpus():
    t = "idx"
    labels = idx([6], [0, 1, 2, 0, 1, 2])
    images = idx([2, 3, 3], range(18))
    write(t, "valid_labels", labels)
    write(t, "valid_images", images)
    write(t, "valid_images_channels_last", idx([2, 2, 2, 3], range(24)))
    write(t, "valid_labels.gz", gz(labels))
    write(t, "valid_images.gz", gz(images))
    write(t, "valid_two_members.gz", gz(images[:10]) + gz(images[10:]))
    write(t, "bad_magic", b"\x00\x01\x08\x01" + images[4:])
    write(t, "bad_type_float", idx([2], struct.pack(">2f", 1, 2), dtype=0x0D))
    write(t, "bad_zero_dims", bytes([0, 0, 8, 0]))
    write(t, "bad_five_dims", idx([1, 1, 1, 1, 1], [7]))
    write(t, "bad_zero_dim", idx([2, 0, 3], []))
    write(t, "bad_truncated_payload", images[:-4])
    write(t, "bad_truncated_dims", images[:9])
    write(t, "bad_trailing", images + b"\x00\x01")
    write(t, "bad_huge_claim", idx([65536, 65536, 2], [1, 2, 3]))
    write(t, "bad_huge_claim.gz", gz(idx([60000, 28, 28], range(64))))
    bad_crc = bytearray(gz(images))
    bad_crc[-6] ^= 0xFF
    write(t, "bad_crc.gz", bytes(bad_crc))
    write(t, "bad_truncated.gz", gz(images)[:-9])
    write(t, "bad_garbage_after_member.gz", gz(images) + b"\x1f\x8bjunk")


# ---------------------------------------------------------------- config

FASHION_MNIST_CONFIG = """{
  "model": {
    "patch_size": 4,
    "dim": 64,
    "depth": 6,
    "heads": 4,
    "mlp_ratio": 2.0,
    "dropout": 0.0,
    "drop_path": 0.0,
    "norm": "pre"
  },
  "train": {
    "epochs": 5,
    "batch_size": 128,
    "optimizer": "adamw",
    "lr": 0.002,
    "min_lr": 0.00001,
    "weight_decay": 0.05,
    "schedule": "cosine",
    "warmup_epochs": 0.5,
    "label_smoothing": 0.0,
    "clip_grad_norm": 1.0,
    "seed": 0,
    "threads": 0,
    "log_every": 100
  },
  "data": {
    "validation_fraction": 0.0833333,
    "crop_padding": 0,
    "horizontal_flip": false,
    "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
  }
}
"""


def config_corpus():
    t = "config"
    # A full config in the repository's layout (a fixed copy, so the corpus does not change when
    # configs/ does).
    write(t, "valid_fashion_mnist.json", FASHION_MNIST_CONFIG)
    small = {
        "model": {"patch_size": 4, "dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
        "train": {"epochs": 3, "batch_size": 32, "lr": 0.01, "min_lr": 0.0001, "warmup_epochs": 0.5,
                  "weight_decay": 0.01, "seed": 7, "threads": 2, "log_every": 1000},
        "data": {"validation_fraction": 0.2, "eval_batch_size": 64},
    }
    write(t, "valid_small.json", json.dumps(small))
    write(t, "valid_empty.json", "{}")
    resolved = {
        "model": {"patch_size": 7, "dim": 64, "depth": 6, "heads": 4, "mlp_ratio": 2.0, "dropout": 0.1,
                  "attention_dropout": 0.0, "drop_path": 0.1, "layer_norm_eps": 1e-6, "norm": "post",
                  "image_height": 28, "image_width": 28, "channels": 1, "num_classes": 10},
        "train": {"optimizer": "sgd", "momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "schedule": "linear",
                  "label_smoothing": 0.1, "clip_grad_norm": 1.0, "seed": 18446744073709551615,
                  "time_limit_minutes": 30.5},
        "data": {"crop_padding": 2, "horizontal_flip": True, "class_names": ["a", "b", "\u00e9"]},
    }
    write(t, "valid_resolved.json", json.dumps(resolved))
    write(t, "bad_unknown_key.json", '{"train": {"lerning_rate": 0.1}}')
    write(t, "bad_wrong_type.json", '{"model": {"dim": "16"}}')
    write(t, "bad_section_type.json", '{"model": [1, 2, {"x": null}]}')
    write(t, "bad_range.json", '{"train": {"epochs": 0, "lr": -1}}')
    write(t, "bad_class_names.json", '{"data": {"class_names": ["a", 2, ["b"]]}}')
    write(t, "bad_top_level.json", '[{"model": {}}]')
    write(t, "bad_big_numbers.json", '{"train": {"threads": 9223372036854775807, "seed": -1, "lr": 1e999}}')
    # Boundary values: the largest f32 (float keys) and doubles far beyond it.
    write(t, "valid_float_limits.json",
          '{"model": {"layer_norm_eps": 1e-38}, "train": {"clip_grad_norm": 3.4e38, "min_lr": 1e-38, '
          '"weight_decay": 1e300, "beta2": 0.99999999}}')
    write(t, "bad_syntax.json", '{"train": {"epochs": 3,}}')


# ---------------------------------------------------------------- images

def pnm(magic, w, h, maxval, samples):
    head = f"{magic}\n# heed fuzz seed\n{w} {h}\n{maxval}\n".encode()
    if magic in ("P2", "P3"):
        return head + " ".join(str(s) for s in samples).encode() + b"\n"
    if maxval > 255:
        return head + b"".join(struct.pack(">H", s) for s in samples)
    return head + bytes(samples)


def png_chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(w, h, color_type, bit_depth, rows, extra=b"", interlace=0):
    """rows: h lists of w pixels, each pixel a tuple of samples (already at bit_depth)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]

    def pack_row(pixels):
        samples = [s for p in pixels for s in p]
        if bit_depth == 16:
            return b"".join(struct.pack(">H", s) for s in samples)
        if bit_depth == 8:
            return bytes(samples)
        out, acc, nbits = bytearray(), 0, 0
        for s in samples:
            acc = (acc << bit_depth) | s
            nbits += bit_depth
            if nbits == 8:
                out.append(acc)
                acc, nbits = 0, 0
        if nbits:
            out.append(acc << (8 - nbits))
        return bytes(out)

    raw = b""
    if interlace:
        for x0, y0, dx, dy in ADAM7:
            sub = [[rows[y][x] for x in range(x0, w, dx)] for y in range(y0, h, dy)]
            if sub and sub[0]:
                raw += b"".join(b"\x00" + pack_row(r) for r in sub)
    else:
        raw = b"".join(b"\x00" + pack_row(r) for r in rows)
    assert all(len(p) == channels for r in rows for p in r)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def image_corpus():
    t = "image"
    w, h = 5, 4
    grey = [(x * 37 + y * 11) % 256 for y in range(h) for x in range(w)]
    rgb = [(x * 50 + c * 70 + y) % 256 for y in range(h) for x in range(w) for c in range(3)]
    write(t, "valid_p2.pgm", pnm("P2", w, h, 255, grey))
    write(t, "valid_p5.pgm", pnm("P5", w, h, 255, grey))
    write(t, "valid_p5_16bit.pgm", pnm("P5", w, h, 1000, [g * 3 for g in grey]))
    write(t, "valid_p3.ppm", pnm("P3", w, h, 255, rgb))
    write(t, "valid_p6.ppm", pnm("P6", w, h, 255, rgb))
    write(t, "valid_p6_16bit.ppm", pnm("P6", 2, 2, 65535, [0, 1, 65535, 256, 257, 3, 9, 9, 9, 0, 0, 0]))

    def rows_of(fn):
        return [[fn(x, y) for x in range(w)] for y in range(h)]

    write(t, "valid_grey8.png", png(w, h, 0, 8, rows_of(lambda x, y: ((x * 40 + y * 9) % 256,))))
    write(t, "valid_grey1.png", png(w, h, 0, 1, rows_of(lambda x, y: ((x + y) % 2,))))
    write(t, "valid_grey4.png", png(w, h, 0, 4, rows_of(lambda x, y: ((x * 3 + y) % 16,))))
    write(t, "valid_grey16.png", png(w, h, 0, 16, rows_of(lambda x, y: ((x * 9001 + y * 13) % 65536,))))
    write(t, "valid_grey_alpha.png", png(w, h, 4, 8, rows_of(lambda x, y: (x * 50, 255 - y * 60))))
    write(t, "valid_rgb8.png", png(w, h, 2, 8, rows_of(lambda x, y: (x * 50, y * 60, 128))))
    write(t, "valid_rgba16.png", png(w, h, 6, 16, rows_of(lambda x, y: (x * 5000, y * 6000, 1, 65535))))
    palette = png_chunk(b"PLTE", bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]))
    trns = png_chunk(b"tRNS", bytes([255, 128]))
    write(t, "valid_palette.png", png(w, h, 3, 8, rows_of(lambda x, y: ((x + y) % 4,)), extra=palette + trns))
    write(t, "valid_palette2.png", png(w, h, 3, 2, rows_of(lambda x, y: ((x * y) % 4,)), extra=palette))
    write(t, "valid_interlaced.png", png(w, h, 2, 8, rows_of(lambda x, y: (x * 40, y * 50, x * y)), interlace=1))
    write(t, "valid_gamma.png", png(w, h, 0, 8, rows_of(lambda x, y: (x * y,)),
                                    extra=png_chunk(b"gAMA", struct.pack(">I", 45455)) +
                                    png_chunk(b"tEXt", b"Comment\x00fuzz")))
    # Broken ones.
    good_png = png(w, h, 2, 8, rows_of(lambda x, y: (x * 50, y * 60, 128)))
    write(t, "bad_truncated.png", good_png[:-20])
    crc = bytearray(good_png)
    crc[40] ^= 0x55  # inside IDAT: the chunk CRC no longer matches
    write(t, "bad_crc.png", bytes(crc))
    write(t, "bad_huge.png", png(16385, 1, 0, 8, [[(0,)]]))
    write(t, "bad_palette_index.png", png(w, h, 3, 8, rows_of(lambda x, y: (9,)), extra=palette))
    write(t, "bad_p5_truncated.pgm", pnm("P5", w, h, 255, grey)[:-3])
    write(t, "bad_p5_trailing.pgm", pnm("P5", w, h, 255, grey) + b"\x00")
    write(t, "bad_p2_over_maxval.pgm", pnm("P2", 2, 1, 10, [3, 11]))
    write(t, "bad_maxval_zero.pgm", b"P5 1 1 0\n\x00")
    write(t, "bad_huge.pgm", b"P5\n16385 2\n255\n")
    # Headers claiming the largest allowed image over a few bytes of data are not seeds: they
    # are open findings (docs/reliability.md), kept in tests/fuzz/regressions/image/.
    write(t, "bad_number.pgm", b"P2 4x4 255\n")
    write(t, "bad_unknown.bmp", b"BM\x3a\x00\x00\x00")
    write(t, "bad_empty", b"")


def main():
    for target, build in [("safetensors", safetensors_corpus), ("idx", idx_corpus),
                          ("config", config_corpus), ("image", image_corpus)]:
        shutil.rmtree(os.path.join(ROOT, target), ignore_errors=True)
        os.makedirs(os.path.join(ROOT, target))
        build()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(ROOT) for f in fs)
    count = sum(len(fs) for _, _, fs in os.walk(ROOT))
    print(f"make_corpus: {count} files, {total} bytes in {ROOT}")


if __name__ == "__main__":
    main()
