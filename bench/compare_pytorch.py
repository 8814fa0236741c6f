#!/usr/bin/python3
"""Side-by-side timing of heed against PyTorch (Debian's python3-torch) in the same run.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py attention [--seq 1024 4096] [--threads 2]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py vit [--config configs/vit-fashion-mnist.json]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py int8 [--config ...] [--image-size 176 --channels 3]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py text [--config configs/text-spamassassin.json]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py sasrec [--config configs/sasrec-movielens.json]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py generate [--config configs/lm-ddtp.json] [--lengths 32 128 512]

`int8`: heed's int8 inference (`heed bench vit --int8 --infer-only`) against PyTorch's
`quantize_dynamic` of the identical ViT (every Linear to qint8; the onednn and qnnpack engines
Debian's torch has, the faster one per round is the baseline), each against its own fp32 in the
same round; `--image-size 176 --channels 3 --config bench/configs/vit-base-shaped.json` is the
BERT-base-shaped encoder of docs/compression.md (12 layers, width 768, 12 heads, 122 tokens).

`vit`: the identical Vision Transformer (timm's architecture: conv patch embedding, class token,
position embedding, pre-norm blocks with a packed qkv Linear, GELU MLP, final norm, linear head)
in PyTorch against `heed bench vit`, same batch size and threads: training images/s (forward,
backward, AdamW step) and inference images/s (no_grad, eval mode).

`text`: the identical text classifier (tools/text_encoder.py, heed's parameter names, with
dropout where heed applies it: after the embeddings, after the attention projection, after the
MLP's GELU and fc2) on exactly the batches heed's training makes: `heed bench text
--save-batches` tokenises the config's training file, length-buckets it as `heed train` does and
writes the first batches (padded token ids, lengths, labels); both sides then time those
batches: training (forward, cross-entropy, backward, gradient clipping, AdamW) and inference
(eval mode, no_grad) in tokens/s, counting the real (unpadded) tokens. PyTorch's inference is
also timed with torch.nn.TransformerEncoder's fast path (BetterTransformer: nested tensors
that skip padding) as the strongest form torch 1.13 offers.

`sasrec`: the identical SASRec (tools/sasrec.py, heed's parameter names and dropout sites) on
exactly the batches heed's training makes: `heed bench sasrec --save-batches` reads the config's
log, splits it leave-one-out, makes the first epoch's length-bucketed windows and the test
queries of every user; both sides then time one training epoch over those batches (forward,
the config's loss: full cross-entropy over every item, or BCE with the saved negatives;
backward, AdamW) and full-ranking scoring of every user (eval mode, no_grad: scores over all
items at each user's last position).

`generate`: greedy decoding with a KV cache, `heed bench generate` against the same weights
(saved by heed, loaded by name) in tools/text_encoder.py's CausalLanguageModel decoding as
Hugging Face's past_key_values loop does (each step's keys and values concatenated onto the
past); tokens/s at each output length and how many leading tokens both choose alike. Then beam
search (heed bench generate's --beam, 4 by default) against the same search in torch
(CausalLanguageModel.beam: float64 scores, the cache reordered with index_select as Hugging
Face's _reorder_cache does).

`attention`: PyTorch's composed form softmax(Q K^T / sqrt(d)) V (what a user writes by hand;
torch 1.13 has no fused CPU attention) against `heed bench attention --impl fused`, B=1, 8 heads,
d_head=64, forward and forward+backward. Prints the BLAS torch is using: run it with OpenBLAS
(the LD_LIBRARY_PATH above), since Debian's default netlib BLAS is ~10x slower and unfair.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

# Both sides get the same OpenMP wait policy as heed's CLI uses (passive): with libgomp's default
# spinning, either library collapses (10x and more) whenever another process is busy.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
import torch  # noqa: E402  (after the environment is set: libgomp reads it when it loads)


def torch_blas():
    """Which BLAS library the torch process has mapped (from /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return ", ".join(sorted(libs)) or "unknown"


def median_ms(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def torch_attention(seq, heads, dim, causal, backward, reps):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, heads, seq, dim, generator=g, requires_grad=backward) for _ in range(3))
    grad = torch.randn(1, heads, seq, dim, generator=g)
    mask = torch.full((seq, seq), float("-inf")).triu(1) if causal else None

    def run():
        s = q @ k.transpose(-1, -2) / dim ** 0.5
        if mask is not None:
            s = s + mask
        out = torch.softmax(s, dim=-1) @ v
        if backward:
            out.backward(grad)

    if backward:
        return median_ms(run, reps)
    with torch.no_grad():
        return median_ms(run, reps)


def heed_attention(heed, seq, heads, dim, causal, backward, reps, threads):
    cmd = [heed, "bench", "attention", "--seq", str(seq), "--heads", str(heads), "--head-dim",
           str(dim), "--reps", str(reps), "--threads", str(threads), "--json"]
    cmd += ["--causal"] if causal else []
    cmd += ["--backward"] if backward else []
    return json.loads(subprocess.check_output(cmd))


class TorchBlock(torch.nn.Module):
    """timm's ViT Block (pre-norm), written out so no timm is needed."""

    def __init__(self, dim, heads, hidden, eps):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(dim, eps=eps)
        self.qkv = torch.nn.Linear(dim, 3 * dim)
        self.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim, eps=eps)
        self.fc1 = torch.nn.Linear(dim, hidden)
        self.fc2 = torch.nn.Linear(hidden, dim)

    def forward(self, x):
        b, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5, dim=-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x))))


class TorchViT(torch.nn.Module):
    def __init__(self, image, channels, classes, patch, dim, depth, heads, mlp_ratio, eps):
        super().__init__()
        n = (image // patch) ** 2
        self.patch = torch.nn.Conv2d(channels, dim, patch, stride=patch)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = torch.nn.Sequential(*[TorchBlock(dim, heads, int(dim * mlp_ratio), eps) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(dim, eps=eps)
        self.head = torch.nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


def compare_vit(args):
    with open(args.config) as f:
        m = json.load(f)["model"]
    cfg = json.load(open(args.config))
    batch = args.batch or cfg["train"]["batch_size"]
    model = TorchViT(28, 1, 10, m["patch_size"], m["dim"], m["depth"], m["heads"], m.get("mlp_ratio", 4.0),
                     m.get("layer_norm_eps", 1e-6))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))

    def train_step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def torch_rates():
        model.train()
        t_train = median_ms(train_step, args.steps)
        model.eval()
        with torch.no_grad():
            t_infer = median_ms(lambda: model(x), args.steps)
        return batch / t_train * 1e3, batch / t_infer * 1e3

    def heed_rates():
        out = subprocess.check_output([args.heed, "bench", "vit", "--config", args.config, "--batch",
                                       str(batch), "--threads", str(args.threads), "--steps",
                                       str(args.steps), "--json"])
        h = json.loads(out)
        return h["train_images_per_s"], h["infer_images_per_s"], h["parameters"]

    params = sum(p.numel() for p in model.parameters())
    # The machine's speed drifts (other tenants): torch and heed alternate, round by round, and
    # the ratio is taken within each round; the median over rounds is the figure to quote.
    print(f"{'round':>6} {'torch train':>12} {'heed train':>11} {'ratio':>6} "
          f"{'torch infer':>12} {'heed infer':>11} {'ratio':>6}   (images/s)")
    train_ratios, infer_ratios = [], []
    for r in range(args.rounds):
        tt, ti = torch_rates()
        ht, hi, heed_params = heed_rates()
        train_ratios.append(ht / tt)
        infer_ratios.append(hi / ti)
        print(f"{r + 1:>6} {tt:>12.1f} {ht:>11.1f} {ht / tt:>5.2f}x {ti:>12.1f} {hi:>11.1f} "
              f"{hi / ti:>5.2f}x", flush=True)
    print(f"ViT {args.config}: batch {batch}, torch {params} / heed {heed_params} parameters, "
          f"{args.rounds} rounds of {args.steps} steps")
    print(f"median speed-up: train {statistics.median(train_ratios):.2f}x, "
          f"inference {statistics.median(infer_ratios):.2f}x")


class TorchTextClassifier(torch.nn.Module):
    """tools/text_encoder.py's TextClassifier with heed's dropout sites."""

    def __init__(self, vocab, classes, m):
        super().__init__()
        import sys
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
        import text_encoder  # noqa: E402
        self.over_windows = text_encoder.over_windows
        self.ref = text_encoder.TextClassifier(
            vocab, classes, pooling=m.get("pooling", "cls"), max_len=m.get("max_len", 256), dim=m["dim"],
            depth=m["depth"], heads=m["heads"], mlp_ratio=m.get("mlp_ratio", 4.0),
            eps=m.get("layer_norm_eps", 1e-6), pre_norm=m.get("norm", "pre") == "pre")
        p = m.get("dropout", 0.1)
        self.drop = torch.nn.Dropout(p)
        for block in self.ref.blocks:  # the same sites as heed's FeedForward and attention
            mlp, attn = block.mlp, block.attn
            mlp.forward = (lambda mlp: lambda x: self.drop(mlp.fc2(self.drop(mlp.act(mlp.fc1(x))))))(mlp)
            proj = attn.proj
            attn.proj = torch.nn.Sequential(proj, torch.nn.Dropout(p))

    def pooled(self, tokens, lengths):
        r = self.ref
        h = self.drop(r.tok_embed(tokens) + r.pos_embed[:, : tokens.shape[1]])
        for block in r.blocks:
            h = block(h, lengths)
        return r.pool(r.norm(h), lengths)

    def forward(self, tokens, lengths):  # windowed batches (data.max_windows) as heed reads them
        if tokens.dim() == 3:
            return self.ref.head(self.over_windows(self.pooled, tokens, lengths))
        return self.ref.head(self.pooled(tokens, lengths))


def torch_fast_encoder(m, vocab, classes):
    """The same shapes as torch.nn.TransformerEncoder, for its inference fast path."""
    layer = torch.nn.TransformerEncoderLayer(m["dim"], m["heads"], int(m["dim"] * m.get("mlp_ratio", 4.0)),
                                             dropout=m.get("dropout", 0.1), activation="gelu",
                                             layer_norm_eps=m.get("layer_norm_eps", 1e-6), batch_first=True,
                                             norm_first=m.get("norm", "pre") == "pre")
    enc = torch.nn.TransformerEncoder(layer, m["depth"], enable_nested_tensor=True)
    embed = torch.nn.Embedding(vocab, m["dim"])
    pos = torch.zeros(1, m.get("max_len", 256), m["dim"])
    norm, head = torch.nn.LayerNorm(m["dim"]), torch.nn.Linear(m["dim"], classes)
    for module in (enc, embed, norm, head):
        module.eval()

    def pooled(tokens, lengths):
        padding = torch.arange(tokens.shape[1])[None, :] >= lengths[:, None]
        h = enc(embed(tokens) + pos[:, : tokens.shape[1]], src_key_padding_mask=padding)
        if h.is_nested:
            h = h.to_padded_tensor(0.0)
        return norm(h)[:, 0]

    def run(tokens, lengths):
        if tokens.dim() == 3:
            import text_encoder  # TorchTextClassifier put tools/ on the path
            return head(text_encoder.over_windows(pooled, tokens, lengths))
        return head(pooled(tokens, lengths))
    return run


def compare_text(args):
    with open(args.config) as f:
        cfg = json.load(f)
    m = cfg["model"]
    batches_file = os.path.join(args.work, "text-batches.json")
    os.makedirs(args.work, exist_ok=True)
    base = [args.heed, "bench", "text", "--config", args.config, "--threads", str(args.threads), "--json"]
    # Prepares the data as `heed train` does (reads, trains the tokenizer, buckets) and saves the batches.
    subprocess.check_output(base + ["--count", str(args.count), "--save-batches", batches_file])
    with open(batches_file) as f:
        saved = json.load(f)
    vocab, classes = saved["vocab_size"], saved["classes"]
    batches = [(torch.tensor(b["tokens"]), torch.tensor(b["lengths"]), torch.tensor(b["labels"]))
               for b in saved["batches"]]
    real = sum(int(lengths.sum()) for _, lengths, _ in batches)
    padded = sum(tokens.numel() for tokens, _, _ in batches)
    model = TorchTextClassifier(vocab, classes, m)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    clip = cfg["train"].get("clip_grad_norm", 0)
    fast = torch_fast_encoder(m, vocab, classes)

    def train_all():
        for tokens, lengths, labels in batches:
            loss = torch.nn.functional.cross_entropy(model(tokens, lengths), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()

    def infer_all(fn):
        with torch.no_grad():
            for tokens, lengths, _ in batches:
                fn(tokens, lengths)

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def torch_rates():
        model.train()
        for tokens, lengths, labels in batches[:2]:  # warm-up, as heed's bench does
            torch.nn.functional.cross_entropy(model(tokens, lengths), labels).backward()
        opt.zero_grad(set_to_none=True)
        t_train = timed(train_all)
        model.eval()
        infer_all(model)
        t_infer = timed(lambda: infer_all(model))
        t_fast = timed(lambda: infer_all(fast))
        return real / t_train, real / t_infer, real / t_fast

    gflops = {"train": [], "infer": []}

    def heed_rates():
        h = json.loads(subprocess.check_output(base + ["--batches", batches_file]))
        gflops["train"].append(h["train_gflops"])
        gflops["infer"].append(h["infer_gflops"])
        return h["train_tokens_per_s"], h["infer_tokens_per_s"], h["parameters"]

    params = sum(p.numel() for p in model.parameters())
    print(f"{len(batches)} batches of the config's first training epoch: {real} tokens, {padded} padded "
          f"(overhead {padded / real - 1:.1%}; heed's whole epoch: see `heed train`'s first line)")
    print(f"{'round':>6} {'torch train':>12} {'heed train':>11} {'ratio':>6} {'torch infer':>12} "
          f"{'torch fast':>11} {'heed infer':>11} {'ratio':>6} {'vs fast':>7}   (tokens/s)")
    ratios = {"train": [], "infer": [], "fast": []}
    for r in range(args.rounds):
        tt, ti, tf = torch_rates()
        ht, hi, heed_params = heed_rates()
        ratios["train"].append(ht / tt)
        ratios["infer"].append(hi / ti)
        ratios["fast"].append(hi / tf)
        print(f"{r + 1:>6} {tt:>12.0f} {ht:>11.0f} {ht / tt:>5.2f}x {ti:>12.0f} {tf:>11.0f} {hi:>11.0f} "
              f"{hi / ti:>5.2f}x {hi / tf:>6.2f}x", flush=True)
    sgemm = json.loads(subprocess.check_output([args.heed, "bench", "gemm", "--sizes", "1024", "--threads",
                                                str(args.threads), "--json"]))
    print(f"text {args.config}: torch {params} / heed {heed_params} parameters; {args.rounds} rounds")
    print(f"heed's model FLOP rate (forward: linear layers over padded positions, attention over real keys; "
          f"training 3x): train {statistics.median(gflops['train']):.0f} GFLOP/s, inference "
          f"{statistics.median(gflops['infer']):.0f} GFLOP/s; heed's sgemm (oneDNN, n = 1024) in the same run: "
          f"{sgemm['results'][0]['gflops']:.0f} GFLOP/s")
    print(f"median speed-up: train {statistics.median(ratios['train']):.2f}x, inference "
          f"{statistics.median(ratios['infer']):.2f}x (vs torch's TransformerEncoder fast path "
          f"{statistics.median(ratios['fast']):.2f}x)")


def compare_sasrec(args):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    import sasrec  # noqa: E402
    with open(args.config) as f:
        cfg = json.load(f)
    m = cfg["model"]
    os.makedirs(args.work, exist_ok=True)
    batches_file = os.path.join(args.work, "sasrec-batches.json")
    base = [args.heed, "bench", "sasrec", "--config", args.config, "--threads", str(args.threads), "--json"]
    subprocess.check_output(base + ["--save-batches", batches_file])
    with open(batches_file) as f:
        saved = json.load(f)
    items, loss_kind = saved["items"], m.get("loss", "ce")

    def lengths_of(x):
        nonzero = (x != 0).long()
        positions = torch.arange(1, x.shape[1] + 1)[None, :]
        return (nonzero * positions).max(1).values

    train = []
    for b in saved["train"]:
        x = torch.tensor(b["items"])
        train.append((x, lengths_of(x), torch.tensor(b["next_items"]),
                      torch.tensor(b["negatives"]) if "negatives" in b else None))
    score = []
    for b in saved["score"]:
        x = torch.tensor(b["items"])
        score.append((x, lengths_of(x)))
    pairs = sum(int((n != 0).sum()) for _, _, n, _ in train)
    users = sum(x.shape[0] for x, _ in score)
    model = sasrec.SasRec(items, max_len=m.get("max_len", 200), dim=m.get("dim", 64), depth=m.get("depth", 2),
                          heads=m.get("heads", 1), mlp_ratio=m.get("mlp_ratio", 1.0),
                          eps=m.get("layer_norm_eps", 1e-8), dropout=m.get("dropout", 0.2),
                          positions=m.get("positions", "start"))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    bce = torch.nn.functional.binary_cross_entropy_with_logits

    def step(x, lengths, nxt, neg):
        h = model.encode(x, lengths)
        keep = nxt != 0
        picked, e = h[keep], model.item_embed.weight
        if loss_kind == "ce":
            loss = torch.nn.functional.cross_entropy(picked @ e.t(), nxt[keep])
        else:
            pos, negs = (picked * e[nxt[keep]]).sum(-1), (picked * e[neg[keep]]).sum(-1)
            loss = bce(pos, torch.ones_like(pos)) + bce(negs, torch.zeros_like(negs))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def torch_times():
        model.train()
        step(*train[0])  # warm-up, as heed's bench does
        t_train = timed(lambda: [step(*b) for b in train])
        model.eval()
        with torch.no_grad():
            model.last_scores(*score[0])
            t_score = timed(lambda: [model.last_scores(*b) for b in score])
        return t_train, t_score

    print(f"{len(train)} batches of the config's first training epoch ({pairs} next-item pairs, {loss_kind} loss, "
          f"{items} items); full-ranking scores of {users} users")
    print(f"{'round':>6} {'torch epoch s':>14} {'heed epoch s':>13} {'ratio':>6} {'torch score s':>14} "
          f"{'heed score s':>13} {'ratio':>6}")
    ratios = {"train": [], "score": []}
    for r in range(args.rounds):
        tt, ts = torch_times()
        h = json.loads(subprocess.check_output(base + ["--batches", batches_file]))
        ht, hs = h["epoch_seconds"], h["score_seconds"]
        ratios["train"].append(tt / ht)
        ratios["score"].append(ts / hs)
        print(f"{r + 1:>6} {tt:>14.2f} {ht:>13.2f} {tt / ht:>5.2f}x {ts:>14.3f} {hs:>13.3f} {ts / hs:>5.2f}x",
              flush=True)
    sgemm = json.loads(subprocess.check_output([args.heed, "bench", "gemm", "--sizes", "1024", "--threads",
                                                str(args.threads), "--json"]))
    print(f"sasrec {args.config}: {sum(p.numel() for p in model.parameters())} parameters; heed's sgemm (oneDNN, "
          f"n = 1024) in the same run: {sgemm['results'][0]['gflops']:.0f} GFLOP/s")
    print(f"median speed-up: training epoch {statistics.median(ratios['train']):.2f}x, full-ranking scoring "
          f"{statistics.median(ratios['score']):.2f}x")


def read_safetensors(path):
    """name -> tensor of a safetensors file (F32 and I64 only: what heed writes)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8: 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = {"F32": torch.float32, "I64": torch.int64}[info["dtype"]]
        out[name] = torch.frombuffer(bytearray(data[8 + n + begin: 8 + n + end]), dtype=dtype).reshape(info["shape"])
    return out


def compare_generate(args):
    """Greedy decoding with a KV cache: `heed bench generate` against the same weights in PyTorch
    decoding as Hugging Face's past_key_values loop does (tools/text_encoder.py
    CausalLanguageModel.step: torch.cat of each step's keys and values)."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from text_encoder import CausalLanguageModel
    os.makedirs(args.work, exist_ok=True)
    weights = os.path.join(args.work, "lm.safetensors")
    base = [args.heed, "bench", "generate", "--config", args.config, "--threads", str(args.threads), "--json",
            "--lengths"] + [str(n) for n in args.lengths]
    heed_runs = [json.loads(subprocess.check_output(base + ["--save-model", weights]))]
    state = read_safetensors(weights)
    m = json.loads(open(args.config).read())["model"]
    vocab, dim = state["tok_embed.weight"].shape
    model = CausalLanguageModel(vocab, max_len=state["pos_embed"].shape[1], dim=dim, depth=m.get("depth", 4),
                                heads=m.get("heads", 4), mlp_ratio=m.get("mlp_ratio", 4.0),
                                eps=m.get("layer_norm_eps", 1e-6), pre_norm=m.get("norm", "pre") == "pre")
    model.load_state_dict(state, strict=True)
    model.eval()
    prompt = heed_runs[0]["prompt"]
    print(f"causal LM {args.config}: {sum(p.numel() for p in model.parameters())} parameters, prompt "
          f"{len(prompt)} tokens, greedy, {args.threads} threads, {args.rounds} rounds")
    for r in range(1, args.rounds):
        heed_runs.append(json.loads(subprocess.check_output(base)))

    def table(decode, rate_key, tokens_key):
        """torch's tokens/s for each length (median of reps, after a warm-up) beside heed's median
        over its rounds, and how many leading tokens the two choose alike."""
        print(f"{'tokens':>7} {'torch tok/s':>12} {'heed tok/s':>11} {'ratio':>6} {'same tokens':>12}")
        for i, n in enumerate(args.lengths):
            decode(n)  # warm-up
            times, tokens = [], None
            for _ in range(args.reps):
                t0 = time.perf_counter()
                tokens = decode(n)
                times.append(time.perf_counter() - t0)
            torch_rate = n / statistics.median(times)
            heed_rate = statistics.median(run["greedy"][i][rate_key] for run in heed_runs)
            heed_tokens = heed_runs[0]["greedy"][i][tokens_key]
            same = next((k for k, (a, b) in enumerate(zip(tokens, heed_tokens)) if a != b), n)
            print(f"{n:>7} {torch_rate:>12.1f} {heed_rate:>11.1f} {heed_rate / torch_rate:>5.2f}x {same:>5} of {n:<5}",
                  flush=True)

    table(lambda n: model.greedy(prompt, n), "cached_tokens_per_s", "greedy_tokens")
    beam = heed_runs[0]["greedy"][0].get("beam", 0)
    if beam > 1:
        print(f"beam {beam} (no end token: every hypothesis runs the whole length; the best one's tokens/s)")
        table(lambda n: model.beam(prompt, n, beam), "beam_cached_tokens_per_s", "beam_tokens")
    sgemm = json.loads(subprocess.check_output([args.heed, "bench", "gemm", "--sizes", "1024", "--threads",
                                                str(args.threads), "--json"]))
    print(f"heed's sgemm (oneDNN, n = 1024) in the same run: {sgemm['results'][0]['gflops']:.0f} GFLOP/s")


def compare_int8(args):
    """heed's int8 inference (Module::quantize_int8) against torch.ao.quantization.quantize_dynamic
    (qint8 weights per output channel, activations quantised per tensor at run time) on the same
    ViT-shaped model, both against their own fp32 in the same round."""
    import copy
    cfg = json.load(open(args.config))
    m = cfg["model"]
    batch = args.batch or cfg["train"]["batch_size"]
    model = TorchViT(args.image_size, args.channels, 10, m["patch_size"], m["dim"], m["depth"], m["heads"],
                     m.get("mlp_ratio", 4.0), m.get("layer_norm_eps", 1e-6)).eval()
    engines = [e for e in ("onednn", "qnnpack") if e in torch.backends.quantized.supported_engines]
    x = torch.randn(batch, args.channels, args.image_size, args.image_size)

    def torch_rates():
        rates = {}
        with torch.no_grad():
            rates["fp32"] = batch / median_ms(lambda: model(x), args.steps) * 1e3
            for engine in engines:
                torch.backends.quantized.engine = engine
                q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear},
                                                           dtype=torch.qint8)
                rates[engine] = batch / median_ms(lambda: q(x), args.steps) * 1e3
        return rates

    def heed_rates():
        out = subprocess.check_output([args.heed, "bench", "vit", "--config", args.config, "--batch",
                                       str(batch), "--threads", str(args.threads), "--steps", str(args.steps),
                                       "--image-size", str(args.image_size), "--channels", str(args.channels),
                                       "--infer-only", "--int8", "--json"])
        h = json.loads(out)
        return h["infer_images_per_s"], h["infer_int8_images_per_s"]

    print(f"{'round':>6} {'torch fp32':>11} " + " ".join(f"{'torch ' + e:>13}" for e in engines) +
          f" {'heed fp32':>10} {'heed int8':>10} {'heed int8/fp32':>15} {'heed/torch int8':>16}   (images/s)")
    own, versus = [], []
    for r in range(args.rounds):
        t = torch_rates()
        hf, hq = heed_rates()
        best = max(t[e] for e in engines)
        own.append(hq / hf)
        versus.append(hq / best)
        print(f"{r + 1:>6} {t['fp32']:>11.1f} " + " ".join(f"{t[e]:>13.1f}" for e in engines) +
              f" {hf:>10.1f} {hq:>10.1f} {hq / hf:>14.2f}x {hq / best:>15.2f}x", flush=True)
    print(f"int8 {args.config} at {args.image_size} px, {args.channels} channels: batch {batch}, "
          f"{(args.image_size // m['patch_size']) ** 2 + 1} tokens, {args.rounds} rounds of {args.steps} steps; "
          f"torch's best engine per round is the baseline")
    print(f"median: heed int8 {statistics.median(own):.2f}x heed fp32, "
          f"{statistics.median(versus):.2f}x torch quantize_dynamic")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["attention", "vit", "int8", "text", "sasrec", "generate"])
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 128, 512], help="generate: output lengths")
    parser.add_argument("--config", default=None, help="default: configs/vit-fashion-mnist.json "
                        "(vit), configs/text-spamassassin.json (text)")
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="vit: alternating torch/heed rounds")
    parser.add_argument("--seq", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=28, help="int8: square image side")
    parser.add_argument("--channels", type=int, default=1, help="int8: image channels")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--count", type=int, default=24, help="text: training batches timed")
    parser.add_argument("--work", default="/tmp/heed-compare", help="text: where the batches file goes")
    parser.add_argument("--heed", default=os.path.join(os.path.dirname(__file__), "..", "build", "heed"))
    args = parser.parse_args()
    if args.config is None:
        args.config = {"text": "configs/text-spamassassin.json", "generate": "configs/lm-ddtp.json",
                       "sasrec": "configs/sasrec-movielens.json"}.get(args.what, "configs/vit-fashion-mnist.json")
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {torch_blas()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    if args.what == "vit":
        compare_vit(args)
        return
    if args.what == "int8":
        compare_int8(args)
        return
    if args.what == "text":
        compare_text(args)
        return
    if args.what == "sasrec":
        compare_sasrec(args)
        return
    if args.what == "generate":
        compare_generate(args)
        return
    print(f"{'N':>6} {'causal':>6} {'pass':>8} {'torch ms':>10} {'heed ms':>10} {'speed-up':>9} "
          f"{'heed GFLOP/s':>13} {'heed extra MiB':>15}")
    for seq in args.seq:
        for causal in (False, True):
            for backward in (False, True):
                t = torch_attention(seq, args.heads, args.head_dim, causal, backward, args.reps)
                h = heed_attention(args.heed, seq, args.heads, args.head_dim, causal, backward,
                                   args.reps, args.threads)
                print(f"{seq:>6} {str(causal):>6} {'fwd+bwd' if backward else 'fwd':>8} {t:>10.1f} "
                      f"{h['median_ms']:>10.1f} {t / h['median_ms']:>8.2f}x {h['gflops']:>13.1f} "
                      f"{h['peak_extra_mib']:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
