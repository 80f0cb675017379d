#!/usr/bin/env python3
"""Training and inference throughput of the paper's PyTorch code for the six full-size audio taggers, to compare
with the engine's (engine_bench --only models, the same measurement): a training step = forward +
BCEWithLogitsLoss + backward on a random (B, 1, 128, 1001) float32 input with random 0/1 targets, model in train
mode (drop path 0, as the engine's bench), no optimizer step; inference = eval-mode forward under no_grad.
Writes stdout and, with --json, a JSON file.

Usage:
  python3 tools/bench_reference.py [--models NAME,...] [--steps 3] [--batch 2] [--threads 2] [--device cpu]
                                   [--json out.json] [--ref /path/to/DCLS-Audio]
Each model is built as gen_model_golden.build builds it at the paper's size (== timm.create_model as main.py
calls it, 527 classes), after torch.manual_seed(0); one warm-up step, then --steps timed steps, for training and
then for inference (CUDA: synchronised). Needs what gen_model_golden.py needs (torch, timm 0.6.13, DCLS 0.1.1, safetensors; --force
accepts other versions) and a DCLS-Audio clone (--ref, default $DCLS_AUDIO, else /tmp/DCLS-Audio). On a 2-core
CPU a DCLS model takes tens of seconds per step.

Printed: one line per model, `<model> train <samples/s> infer <samples/s> samples/s (median step S s of N, batch
B, T threads, device)`, samples/s = B / median step time. --json: {"device", "threads", "batch", "steps",
"versions", "models": {model: {"samples_per_s", "median_s", "step_s": [N floats], "infer_samples_per_s",
"infer_median_s", "infer_step_s": [N floats]}}}.
"""
import argparse
import json
import logging
import statistics
import sys
import time

import torch
import torch.nn as nn

from gen_model_golden import NAMES, PAPER_SIZE, arch_of, build, check_versions
from paper_models import DEFAULT_REF, import_paper_training


def bench(paper, name, batch, steps, device):
    torch.manual_seed(0)
    depths, dims = PAPER_SIZE[arch_of(name)]
    model = build(paper, name, depths, dims, 527, drop_path_rate=0.0).to(device).train()
    x = torch.randn(batch, 1, 128, 1001, device=device)
    y = (torch.rand(batch, 527, device=device) < 0.05).float()
    criterion = nn.BCEWithLogitsLoss()

    def timed(step):
        times = []
        for i in range(steps + 1):  # the first is the warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:
                times.append(time.perf_counter() - start)
        return times

    def train_step():
        model.zero_grad(set_to_none=True)
        criterion(model(x), y).backward()

    train = timed(train_step)
    model.eval()
    with torch.no_grad():
        infer = timed(lambda: model(x))
    return train, infer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(NAMES), help="comma-separated subset of: " + ", ".join(NAMES))
    ap.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up (default 3)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--ref", default=DEFAULT_REF, help="clone of K-H-Ismail/DCLS-Audio (default $DCLS_AUDIO, else "
                                                         "/tmp/DCLS-Audio)")
    ap.add_argument("--force", action="store_true", help="accept timm/DCLS versions other than the pinned ones")
    args = ap.parse_args()
    models = args.models.split(",")
    unknown = [m for m in models if m not in NAMES]
    if unknown or args.steps < 1:
        sys.exit(f"bench_reference: unknown models {unknown}" if unknown else "bench_reference: --steps must be >= 1")

    logging.disable(logging.WARNING)  # DCLS logs a fallback warning for every Dcls2d built on a CPU
    versions = check_versions(args.force)
    torch.set_num_threads(args.threads)
    paper, _, _ = import_paper_training(args.ref)
    device = torch.device(args.device)
    results = {}
    for name in models:
        train, infer = bench(paper, name, args.batch, args.steps, device)
        median, infer_median = statistics.median(train), statistics.median(infer)
        results[name] = {"samples_per_s": args.batch / median, "median_s": median, "step_s": train,
                         "infer_samples_per_s": args.batch / infer_median, "infer_median_s": infer_median,
                         "infer_step_s": infer}
        print(f"{name} train {args.batch / median:.4g} infer {args.batch / infer_median:.4g} samples/s (median step "
              f"{median:.3f} s of {args.steps}, batch {args.batch}, {args.threads} threads, {device})", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "threads": args.threads, "batch": args.batch, "steps": args.steps,
                       "versions": versions, "models": results}, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
