#!/usr/bin/python3
"""Side-by-side timing of heed against PyTorch (Debian's python3-torch) in the same run.

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py attention [--seq 1024 4096] [--threads 2]
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 bench/compare_pytorch.py vit [--config configs/vit-fashion-mnist.json]

`vit`: the identical Vision Transformer (timm's architecture: conv patch embedding, class token,
position embedding, pre-norm blocks with a packed qkv Linear, GELU MLP, final norm, linear head)
in PyTorch against `heed bench vit`, same batch size and threads: training images/s (forward,
backward, AdamW step) and inference images/s (no_grad, eval mode).

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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["attention", "vit"])
    parser.add_argument("--config", default="configs/vit-fashion-mnist.json")
    parser.add_argument("--batch", type=int, default=0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="vit: alternating torch/heed rounds")
    parser.add_argument("--seq", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--heed", default=os.path.join(os.path.dirname(__file__), "..", "build", "heed"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, BLAS: {torch_blas()}, "
          f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    if args.what == "vit":
        compare_vit(args)
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
