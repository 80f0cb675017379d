#!/usr/bin/env python3
"""JSON goldens for the trainer (LR schedule, optimisers, metrics, parameter groups), computed with the
paper's own training code (K-H-Ismail/DCLS-Audio: utils.py, optim_factory.py, models/) and the libraries
it runs on (torch.optim.AdamW, timm 0.6.13's Lamb, sklearn, scipy). Writes tests/data/train/.

Usage:
  python3 tools/gen_train_golden.py [--ref /path/to/DCLS-Audio] [--out tests/data/train]
--ref defaults to $DCLS_AUDIO, else /tmp/DCLS-Audio. Needs torch, timm 0.6.13, DCLS 0.1.1 and safetensors (as
gen_model_golden.py, whose version check is used; --force accepts other versions), numpy, scipy, sklearn.
Single-threaded CPU with fixed seeds: a rerun with the same versions writes identical files. Every float is
written by json (Python's shortest repr, which reads back to the same double; float32 values are exact
doubles, so they also read back exactly as float32). Takes about 10 s (most of it building the six
full-size models of param_groups_golden.json).

Files ("versions" in the first three: torch, timm, dcls, safetensors):

schedule_golden.json   {"cases": [{"base", "final", "epochs", "niter", "warmup_epochs", "warmup_steps",
                        "values": [epochs * niter floats]}]}: utils.cosine_scheduler(base, final, epochs,
                        niter, warmup_epochs, start_warmup_value=0, warmup_steps) of the clone.

optim_golden.json      {"schedule": [10 floats], "cases": [{"name", "optimizer" ("adamw" | "lamb"),
                        "update_freq": 2, "betas", "eps", "max_grad_norm" (lamb only), "groups": {name: {"weight_decay",
                        "lr_scale"}}, "params": [{"name", "shape", "group", "init": [flat]}],
                        "steps": [{"lr": {group: float}, "grads": [[flat per param] for each micro-batch],
                        "grad_norm" (lamb only), "clipped" (lamb only), "after": [[flat per param]]}],
                        "torch_f32_vs_f64"}]}.
                        A fake model whose seven parameters fall into the paper's three groups
                        (get_parameter_groups via create_optimizer, as main.py; "group" is the group each
                        parameter got): conv.weight (4,3,1,2) decay, conv.bias (4) no_decay, norm.weight (4)
                        no_decay, ls.gamma (4,1,1) decay (3-D, so decayed), dw.P and dw.SIG (2,4,1,3)
                        no_decay_dcls (wd 0, lr_scale 5), head.weight (6,4) decay. Step s (0-based) sets
                        group lr = schedule[s] * lr_scale (engine.py), then p.grad = g1 * 0.5 and
                        p.grad += g2 * 0.5 in float32 (the micro-batch gradients of loss / update_freq summed,
                        as engine.py accumulates them), then optimizer.step(); "after" is every parameter
                        after that step. All float32. Inputs (init, grads) are multiples of 2^-8 resp. 2^-10
                        so that they are short and exact. Cases: "adamw" (torch.optim.AdamW, betas
                        (0.9, 0.999), eps 1e-8), "lamb_clip" (timm Lamb, eps 1e-8, betas (0.9, 0.999),
                        max_grad_norm 1.0, global gradient norm about 20 so the clip acts on every step),
                        "lamb_noclip" (the same with a global norm below 1). "grad_norm" is Lamb's global norm
                        of the accumulated gradient (float32, summed over all groups, in group order) and
                        "clipped" whether it exceeds max_grad_norm (then every gradient is divided by
                        grad_norm / max_grad_norm). Lamb applies its trust ratio |p| / |update| only in groups
                        with weight_decay != 0 (always_adapt is False), so no_decay and no_decay_dcls are
                        Adam steps (with the clipped gradient) there. torch's AdamW on the CPU (single-tensor
                        path): p *= 1 - lr * wd; m.lerp_(g, 1 - beta1); v = v * beta2 + (1 - beta2) g^2;
                        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). Lamb: g /= clip;
                        m = beta1 m + (1 - beta1) g; v likewise; u = (m / (1 - beta1^t)) / (sqrt(v) /
                        sqrt(1 - beta2^t) + eps) + wd * p; u *= |p| / |u| (where wd != 0, both norms > 0);
                        p -= lr * u. "torch_f32_vs_f64" is the golden's own rounding error: the case replayed
                        in float64 from the same inputs, max over tensors and steps of max |f32 - f64| / max |f64|
                        of the tensor (about 2.5e-7; element by element the relative difference reaches 4e-5 on
                        values near zero, so compare an element against its tensor's scale).

metrics_golden.json    {"cases": [{"n", "k", "scores": [n*k row-major], "targets": [n*k, 0/1], "positives":
                        [k], "present": number of classes with 0 < positives < n, "ap": [k, null when not
                        present], "auc": [k, null when not present], "map", "mauc", "dprime_mean_of_classes",
                        "dprime_of_mean_auc"}]}: sklearn average_precision_score and roc_auc_score per present
                        class; map and mauc are the means over present classes; dprime_mean_of_classes =
                        mean_c sqrt(2) * norm.ppf(auc_c) (DCLS-Audio's engine.evaluate), dprime_of_mean_auc =
                        sqrt(2) * norm.ppf(mauc) (AST). Scores are multiples of 1/8 (exact in float32) with
                        many ties, some between positives and negatives. Case 1: n 40, k 9 (class 0 has no
                        positive, class 1 no negative, class 8 one constant score). Case 2: n 7, k 3, checked
                        against hand-computed values (see metrics_golden()).

param_groups_golden.json
                       {model: {group: {"weight_decay", "lr_scale", "tensors", "elements", "names": [sorted]}}}
                        for the six models (no other key, no "versions"): each at full size with 527 classes
                        from timm.create_model as main.py calls it, grouped by create_optimizer(args, model,
                        skip_list=None) with weight_decay 0.05 (main.py's path: the skip list is then
                        model.no_weight_decay() when the model defines it; the script prints whether an empty
                        skip list would group differently). named_parameters() lists each tied DCLS P/SIG
                        once, so "tensors" counts one P and one SIG per stage.
"""
import argparse
import contextlib
import io
import json
import logging
import math
import os

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score

from gen_model_golden import NAMES, PARAM_COUNTS, check_versions
from paper_models import DEFAULT_REF, create_paper_optimizer, import_paper_training

SCHEDULE_CASES = [  # (base, final, epochs, niter, warmup_epochs, warmup_steps)
    (4e-3, 1e-6, 60, 7, 20, -1),  # the paper's schedule shape (D.5) with a short epoch
    (1e-3, 1e-6, 5, 13, 1, -1),
    (2e-3, 1e-6, 4, 10, 0, -1),
    (3e-3, 1e-5, 3, 9, 1, 7),  # warmup_steps overrides warmup_epochs * niter (the linspace needs warmup_epochs > 0)
]

OPT_SCHEDULE = [0.01, 0.03, 0.05, 0.07, 0.09, 0.1, 0.08, 0.06, 0.04, 0.02]  # rising then falling
FAKE_PARAMS = [  # name, shape, init scale, init offset
    ("conv.weight", (4, 3, 1, 2), 0.5, 0.0),
    ("conv.bias", (4,), 0.1, 0.0),
    ("norm.weight", (4,), 0.1, 1.0),
    ("ls.gamma", (4, 1, 1), 0.2, 0.5),
    ("dw.P", (2, 4, 1, 3), 3.0, 0.0),
    ("dw.SIG", (2, 4, 1, 3), 0.1, 0.3),
    ("head.weight", (6, 4), 0.5, 0.0),
]
EXPECTED_GROUPS = {"conv.weight": "decay", "conv.bias": "no_decay", "norm.weight": "no_decay", "ls.gamma": "decay",
                   "dw.P": "no_decay_dcls", "dw.SIG": "no_decay_dcls", "head.weight": "decay"}
OPT_CASES = [  # name, optimizer, gradient scale, seed
    ("adamw", "adamw", 1.0, 1),
    ("lamb_clip", "lamb", 2.5, 2),
    ("lamb_noclip", "lamb", 0.01, 3),
]
UPDATE_FREQ = 2


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def quantised_randn(gen, shape, scale, step):
    """randn * scale rounded to a multiple of `step` (a power of two): short decimals, exact in float32."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale / step).round().mul(step).float()


def schedule_golden(utils):
    cases = []
    for base, final, epochs, niter, warmup_epochs, warmup_steps in SCHEDULE_CASES:
        with contextlib.redirect_stdout(io.StringIO()):  # cosine_scheduler prints the warmup length
            values = utils.cosine_scheduler(base, final, epochs, niter, warmup_epochs=warmup_epochs,
                                            warmup_steps=warmup_steps)
        cases.append({"base": base, "final": final, "epochs": epochs, "niter": niter, "warmup_epochs": warmup_epochs,
                      "warmup_steps": warmup_steps, "values": [float(v) for v in values]})
        print(f"  schedule base {base} epochs {epochs} niter {niter} warmup {warmup_epochs}/{warmup_steps}: "
              f"{len(values)} values, first {values[:3].tolist()}, max {max(values):.6g}, last {values[-1]:.6g}")
    return {"cases": cases}


def fake_model(gen):
    model = nn.Module()
    for name, shape, scale, offset in FAKE_PARAMS:
        owner, pname = name.split(".")
        if not hasattr(model, owner):
            model.add_module(owner, nn.Module())
        init = quantised_randn(gen, shape, scale, 2.0 ** -8) + offset
        getattr(model, owner).register_parameter(pname, nn.Parameter(init))
    return model


def lamb_global_norm(optimizer):
    """Lamb's own global norm: float32 sum of squares over all groups in order, then sqrt."""
    total = torch.zeros(1)
    for group in optimizer.param_groups:
        for p in group["params"]:
            total.add_(p.grad.pow(2).sum())
    return float(torch.sqrt(total))


def optim_case(optim_factory, name, opt, grad_scale, seed):
    gen = torch.Generator().manual_seed(seed)
    model = fake_model(gen)
    optimizer, groups = create_paper_optimizer(optim_factory, model, opt, lr=OPT_SCHEDULE[0], weight_decay=0.05,
                                               eps=1e-8, betas=[0.9, 0.999])
    group_of = {pname: gname for gname, g in groups.items() for pname in g["params"]}
    if group_of != EXPECTED_GROUPS:
        raise SystemExit(f"gen_train_golden: unexpected parameter groups {group_of}")
    named = list(model.named_parameters())
    case = {"name": name, "optimizer": opt, "update_freq": UPDATE_FREQ,
            "betas": list(optimizer.defaults["betas"]), "eps": optimizer.defaults["eps"]}
    if opt == "lamb":
        case["max_grad_norm"] = optimizer.defaults["max_grad_norm"]
    case["groups"] = {g: {"weight_decay": v["weight_decay"], "lr_scale": v["lr_scale"]} for g, v in groups.items()}
    case["params"] = [{"name": n, "shape": list(p.shape), "group": group_of[n], "init": flat(p)} for n, p in named]
    steps = []
    for lr in OPT_SCHEDULE:
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_scale"]  # engine.py: lr_schedule_values[it] * param_group["lr_scale"]
        micro = [[quantised_randn(gen, p.shape, grad_scale, 2.0 ** -10) for _, p in named] for _ in range(UPDATE_FREQ)]
        for i, (_, p) in enumerate(named):
            p.grad = micro[0][i] * (1.0 / UPDATE_FREQ)
            for m in micro[1:]:
                p.grad += m[i] * (1.0 / UPDATE_FREQ)
        step = {"lr": {gname: group["lr"] for gname, group in zip(groups, optimizer.param_groups)},
                "grads": [[flat(g) for g in m] for m in micro]}
        if opt == "lamb":
            step["grad_norm"] = lamb_global_norm(optimizer)
            step["clipped"] = step["grad_norm"] > case["max_grad_norm"]
        optimizer.step()
        step["after"] = [flat(p) for _, p in named]
        steps.append(step)
    case["steps"] = steps
    moved = max(abs(a - b) for p, after in zip(case["params"], steps[-1]["after"]) for a, b in zip(p["init"], after))
    norms = [st["grad_norm"] for st in steps] if opt == "lamb" else []
    print(f"  {name}: largest parameter change after 10 steps {moved:.4g}"
          + (f", Lamb grad norms {min(norms):.4g}..{max(norms):.4g}, clipped on {sum(st['clipped'] for st in steps)}"
             f"/10 steps" if norms else ""))
    if opt == "lamb" and {st["clipped"] for st in steps} != {name == "lamb_clip"}:
        raise SystemExit(f"gen_train_golden: {name}: the clip must act on every step or on none, as the name says")
    return case


def f64_replay_error(optim_factory, case):
    """The golden's own rounding error: the same case replayed in float64 (init and micro-batch gradients as
    recorded); the largest |f32 - f64| of a tensor over its largest |f64| value, over all tensors and steps."""
    model = nn.Module()
    for p in case["params"]:
        owner, pname = p["name"].split(".")
        if not hasattr(model, owner):
            model.add_module(owner, nn.Module())
        init = torch.tensor(p["init"], dtype=torch.float64).reshape(p["shape"])
        getattr(model, owner).register_parameter(pname, nn.Parameter(init))
    named = list(model.named_parameters())
    optimizer, groups = create_paper_optimizer(optim_factory, model, case["optimizer"], lr=OPT_SCHEDULE[0],
                                               weight_decay=0.05, eps=case["eps"], betas=case["betas"])
    worst = 0.0
    for step in case["steps"]:
        for gname, group in zip(groups, optimizer.param_groups):
            group["lr"] = step["lr"][gname]
        for i, (_, p) in enumerate(named):
            p.grad = sum(torch.tensor(m[i], dtype=torch.float64).reshape(p.shape) / UPDATE_FREQ for m in step["grads"])
        optimizer.step()
        for (_, p), after in zip(named, step["after"]):
            exact = p.detach().reshape(-1)
            error = (torch.tensor(after, dtype=torch.float64) - exact).abs().max() / exact.abs().max()
            worst = max(worst, float(error))
    return worst


def optim_golden(optim_factory):
    cases = [optim_case(optim_factory, *c) for c in OPT_CASES]
    for case in cases:
        case["torch_f32_vs_f64"] = f64_replay_error(optim_factory, case)
        print(f"  {case['name']}: float32 golden vs a float64 replay: {case['torch_f32_vs_f64']:.2g} of each "
              f"tensor's largest value")
    return {"schedule": OPT_SCHEDULE, "cases": cases}


def metric_case(scores, targets):
    n, k = scores.shape
    positives = targets.sum(0)
    present = [c for c in range(k) if 0 < positives[c] < n]
    ap, auc = [None] * k, [None] * k
    for c in present:
        ap[c] = float(average_precision_score(targets[:, c], scores[:, c]))
        auc[c] = float(roc_auc_score(targets[:, c], scores[:, c]))
        if not 0 < auc[c] < 1:
            raise SystemExit(f"gen_train_golden: class {c} has AUC {auc[c]}: d' would be infinite")
    mauc = float(np.mean([auc[c] for c in present]))
    return {"n": n, "k": k, "scores": [float(v) for v in scores.reshape(-1)],
            "targets": [int(v) for v in targets.reshape(-1)], "positives": [int(v) for v in positives],
            "present": len(present), "ap": ap, "auc": auc, "map": float(np.mean([ap[c] for c in present])),
            "mauc": mauc,
            "dprime_mean_of_classes": float(np.mean([math.sqrt(2) * norm.ppf(auc[c]) for c in present])),
            "dprime_of_mean_auc": float(math.sqrt(2) * norm.ppf(mauc))}


def tied_pairs(scores, targets, c):
    pos, neg = scores[targets[:, c] == 1, c], scores[targets[:, c] == 0, c]
    return int((pos[:, None] == neg[None, :]).sum())


def metrics_golden():
    rng = np.random.default_rng(7)
    n, k = 40, 9
    positives = [0, 40, 1, 2, 5, 10, 20, 39, 13]
    targets = np.zeros((n, k), dtype=np.int64)
    for c, count in enumerate(positives):
        targets[rng.permutation(n)[:count], c] = 1
    separation = np.linspace(0.2, 1.5, k)  # how far positives score above negatives, per class
    scores = np.round(8 * (separation * targets + 0.6 * rng.standard_normal((n, k)))) / 8
    scores[:, 8] = 0.25  # one class with a constant score: AUC 0.5, AP = positives / n
    negative_pos = np.flatnonzero(targets[:, 4] == 0)[0]
    scores[np.flatnonzero(targets[:, 4])[0], 4] = scores[negative_pos, 4]  # one forced positive/negative tie
    big = metric_case(scores, targets)
    ties = {c: tied_pairs(scores, targets, c) for c in range(k) if big["ap"][c] is not None}
    print(f"  metrics n {n} k {k}: present classes {list(ties)}, tied positive/negative pairs per class {ties}, "
          f"mAP {big['map']:.6f}, mAUC {big['mauc']:.6f}, d' {big['dprime_mean_of_classes']:.6f} (mean of classes) "
          f"{big['dprime_of_mean_auc']:.6f} (of mean AUC)")

    # Tiny case. Class 0, no ties, positives at ranks 1, 2, 5: AP = (1/1 + 2/2 + 3/5) / 3 = 13/15, AUC = 10/12.
    # Class 1 with ties (0.75 +, {0.5 +, 0.5 -}, {0.25 -, 0.25 +, 0.25 -}, 0 -): AP = (1 + 2/3 + 1/2) / 3 = 13/18,
    # AUC = (4 + 3.5 + 2) / 12 = 19/24. Class 2 has no positive: not present.
    scores = np.array([[0.875, 0.5, 0.125], [0.75, 0.5, 0.25], [0.625, 0.25, 0.5], [0.5, 0.25, 0.5],
                       [0.375, 0.25, 0.0], [0.25, 0.75, 0.375], [0.125, 0.0, 0.625]])
    targets = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
    tiny = metric_case(scores, targets)
    hand = {"ap": [13 / 15, 13 / 18, None], "auc": [10 / 12, 19 / 24, None]}
    for key, want in hand.items():
        if any((a is None) != (b is None) or (a is not None and abs(a - b) > 1e-12) for a, b in zip(tiny[key], want)):
            raise SystemExit(f"gen_train_golden: tiny metrics case {key} {tiny[key]} != hand-computed {want}")
    print(f"  metrics n 7 k 3: ap {tiny['ap']}, auc {tiny['auc']} (= the hand-computed values)")
    return {"cases": [big, tiny]}


def group_summary(groups, model):
    params = dict(model.named_parameters())
    return {g: {"weight_decay": v["weight_decay"], "lr_scale": v["lr_scale"], "tensors": len(v["params"]),
                "elements": sum(params[n].numel() for n in v["params"]), "names": sorted(v["params"])}
            for g, v in groups.items()}


def param_groups_golden(optim_factory):
    import timm

    out = {}
    for name in NAMES:
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=527, drop_path_rate=0.4,
                                  layer_scale_init_value=1e-6, head_init_scale=1.0)  # main.py's call
        optimizer, groups = create_paper_optimizer(optim_factory, model, "adamw", lr=4e-3, weight_decay=0.05)
        count = sum(p.numel() for p in model.parameters())
        if count != PARAM_COUNTS[name]:
            raise SystemExit(f"gen_train_golden: {name} has {count} parameters, expected {PARAM_COUNTS[name]}")
        skip = sorted(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else []
        with contextlib.redirect_stdout(io.StringIO()):
            unskipped = optim_factory.get_parameter_groups(model, 0.05, ())
        members = [[id(p) for p in g["params"]] for g in optimizer.param_groups]
        matters = members != [[id(p) for p in g["params"]] for g in unskipped]
        out[name] = summary = group_summary(groups, model)
        print(f"  {name}: " + ", ".join(f"{g} {v['tensors']} tensors / {v['elements']:,} elements (wd "
                                         f"{v['weight_decay']}, lr x{v['lr_scale']})" for g, v in summary.items())
              + f"; skip list {skip} {'changes' if matters else 'does not change'} the groups")
    return out


def write(out_dir, name, obj):
    path = os.path.join(out_dir, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
        f.write("\n")
    size = os.path.getsize(path)
    if size >= 200_000:
        raise SystemExit(f"gen_train_golden: {path} is {size} bytes, over the 200 KB budget")
    print(f"wrote {path} ({size / 1000:.1f} KB)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default=DEFAULT_REF, help="clone of K-H-Ismail/DCLS-Audio (default $DCLS_AUDIO, "
                                                         "else /tmp/DCLS-Audio)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                                                   "train"))
    ap.add_argument("--force", action="store_true", help="accept timm/DCLS versions other than the pinned ones")
    args = ap.parse_args()

    logging.disable(logging.WARNING)  # DCLS logs a fallback warning for every Dcls2d built on a CPU
    versions = check_versions(args.force)
    torch.set_num_threads(1)
    _, utils, optim_factory = import_paper_training(args.ref)
    os.makedirs(args.out, exist_ok=True)
    print("schedules (utils.cosine_scheduler):")
    write(args.out, "schedule_golden.json", {"versions": versions, **schedule_golden(utils)})
    print("optimisers (create_optimizer's AdamW and Lamb):")
    write(args.out, "optim_golden.json", {"versions": versions, **optim_golden(optim_factory)})
    print("metrics (sklearn, scipy):")
    write(args.out, "metrics_golden.json", {"versions": versions, **metrics_golden()})
    print("parameter groups of the full-size models (create_optimizer as main.py calls it):")
    write(args.out, "param_groups_golden.json", param_groups_golden(optim_factory))


if __name__ == "__main__":
    main()
