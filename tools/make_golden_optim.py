#!/usr/bin/python3
"""Generate golden reference files for the optimisers, gradient clipping and LR schedules.

Run from the repository root with Debian's python3 (it has torch + numpy):

    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp /usr/bin/python3 tools/make_golden_optim.py

Writes tests/golden/optim/<case>.safetensors (same hand-written safetensors writer as
tools/make_golden.py). Deterministic: fixed seed per case (crc32 of the case name), one thread.

Optimiser cases (adamw, sgd_momentum, sgd_nesterov): two parameters, "weight" [4, 3] with the
case's weight decay and "bias" [3] in a second param group with weight_decay 0, updated for
STEPS steps by torch.optim.AdamW / torch.optim.SGD.
    init.<p>     initial value
    grad.<p>     [STEPS, *shape]: the gradient set before step k is grad.<p>[k]
    param.<p>    [STEPS, *shape]: the value after step k
    <kind>.<p>   final optimiser state: exp_avg, exp_avg_sq (AdamW) or momentum_buffer (SGD)
    step.<p>     AdamW only: the final per-parameter step count (I64, 0-d)
Metadata: "optimizer" (adamw | sgd), the hyper-parameters (floats via repr(), nesterov 0/1),
"steps", "generator".

clip: torch.nn.utils.clip_grad_norm_ on the gradients of the same two parameters.
    grad.<p>, clipped.<p>, total_norm (0-d); metadata max_norm.

schedule: learning rates of torch.optim.lr_scheduler for steps 0..total_steps (inclusive),
read from the param group before each optimiser step.
    cosine  CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)
    linear  LinearLR(start_factor=1, end_factor=min_lr / base_lr, total_iters=total_steps)
Metadata: base_lr, min_lr, total_steps. (Warmup has no PyTorch built-in with heed's
(step + 1) / warmup_steps form; the C++ test checks it against the closed form.)
"""

import os
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import attr_str, write_safetensors  # noqa: E402  (same file format)

OUT_DIR = os.environ.get("HEED_GOLDEN_OUT") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "optim")
GENERATOR = f"tools/make_golden_optim.py, torch {torch.__version__}"
STEPS = 10
SHAPES = {"weight": (4, 3), "bias": (3,)}

# (case name, optimizer kind, hyper-parameters); weight_decay applies to "weight" only.
# Learning rates are powers of two: heed keeps lr as a float, and float(0.01) != 0.01 would shift
# AdamW's step size -lr / (1 - beta1^t) by an ulp now and then.
OPTIMIZER_CASES = [
    ("adamw", "adamw", {"lr": 2.0**-7, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1}),
    ("sgd_momentum", "sgd", {"lr": 2.0**-4, "momentum": 0.9, "weight_decay": 0.1, "nesterov": 0}),
    ("sgd_nesterov", "sgd", {"lr": 2.0**-4, "momentum": 0.9, "weight_decay": 0.1, "nesterov": 1}),
]


def seed(name):
    torch.manual_seed(zlib.crc32(name.encode()))


def make_params_and_grads():
    """Initial values and STEPS gradients per parameter, drawn in a fixed order."""
    init = {"weight": torch.randn(4, 3), "bias": 0.1 * torch.randn(3)}
    grads = {name: torch.randn(STEPS, *shape) for name, shape in SHAPES.items()}
    return init, grads


def make_optimizer(kind, hp, params):
    groups = [{"params": [params["weight"]], "weight_decay": hp["weight_decay"]},
              {"params": [params["bias"]], "weight_decay": 0.0}]
    if kind == "adamw":
        return torch.optim.AdamW(groups, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"])
    return torch.optim.SGD(groups, lr=hp["lr"], momentum=hp["momentum"], nesterov=bool(hp["nesterov"]))


def run_optimizer_case(name, kind, hp):
    seed(name)
    init, grads = make_params_and_grads()
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    opt = make_optimizer(kind, hp, params)
    history = {k: [] for k in params}
    for step in range(STEPS):
        for k, p in params.items():
            p.grad = grads[k][step].clone()
        opt.step()
        for k, p in params.items():
            history[k].append(p.detach().clone())

    tensors = {}
    for k in params:
        tensors[f"init.{k}"] = init[k]
    for k in params:
        tensors[f"grad.{k}"] = grads[k]
    for k in params:
        tensors[f"param.{k}"] = torch.stack(history[k])
    kinds = ["exp_avg", "exp_avg_sq"] if kind == "adamw" else ["momentum_buffer"]
    for state_kind in kinds:
        for k, p in params.items():
            tensors[f"{state_kind}.{k}"] = opt.state[p][state_kind]
    if kind == "adamw":
        for k, p in params.items():
            tensors[f"step.{k}"] = torch.tensor(int(opt.state[p]["step"].item()), dtype=torch.int64)
    metadata = {"optimizer": kind, **{k: attr_str(v) for k, v in hp.items()}, "steps": str(STEPS),
                "generator": GENERATOR}
    return tensors, metadata


def run_clip_case(name):
    seed(name)
    max_norm = 1.0
    grads = {k: torch.randn(*shape) for k, shape in SHAPES.items()}
    params = {k: torch.nn.Parameter(torch.zeros(*shape)) for k, shape in SHAPES.items()}
    for k, p in params.items():
        p.grad = grads[k].clone()
    total_norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm)
    assert total_norm.item() > 2 * max_norm, "the case must actually clip"
    tensors = {f"grad.{k}": g for k, g in grads.items()}
    tensors.update({f"clipped.{k}": p.grad for k, p in params.items()})
    tensors["total_norm"] = total_norm.reshape(())
    return tensors, {"max_norm": attr_str(max_norm), "generator": GENERATOR}


def scheduler_lrs(make_scheduler, base_lr, total_steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(total_steps + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()  # no gradient: a no-op, keeps the scheduler's call-order check quiet
        sched.step()
    return torch.tensor(lrs, dtype=torch.float64).float()


def run_schedule_case(name):
    base_lr, min_lr, total = 0.1, 0.001, 20
    sched = torch.optim.lr_scheduler
    cosine = scheduler_lrs(lambda o: sched.CosineAnnealingLR(o, T_max=total, eta_min=min_lr), base_lr, total)
    linear = scheduler_lrs(
        lambda o: sched.LinearLR(o, start_factor=1.0, end_factor=min_lr / base_lr, total_iters=total),
        base_lr, total)
    metadata = {"base_lr": attr_str(base_lr), "min_lr": attr_str(min_lr), "total_steps": str(total),
                "generator": GENERATOR}
    return {"cosine": cosine, "linear": linear}, metadata


def main():
    torch.set_num_threads(1)  # bit-reproducible
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = [(name, lambda n=name, k=kind, hp=hp: run_optimizer_case(n, k, hp))
             for name, kind, hp in OPTIMIZER_CASES]
    cases += [("clip", lambda: run_clip_case("clip")), ("schedule", lambda: run_schedule_case("schedule"))]
    for name, run in cases:
        tensors, metadata = run()
        path = os.path.join(OUT_DIR, f"{name}.safetensors")
        write_safetensors(path, tensors, metadata)
        print(f"{os.path.relpath(path)}  {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
