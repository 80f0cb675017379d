#!/usr/bin/env python3
"""Training curves from engine_train_<arch> run logs (<run>/log.jsonl) as one PNG: training loss, learning rate
and held-out mAP against the optimizer step, one line per run (e.g. our engine against tools/train_reference.py).

Usage:
  tools/plot_training.py RUN_DIR_OR_JSONL [LABEL=RUN_DIR_OR_JSONL ...] -o curves.png [--title TEXT]

Log records (one JSON object per line): {"type": "train", "step", "loss", "lr"} and {"type": "eval", "step",
"map"[, "ema": {"map"}]}; other records are ignored. Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json
import os
import sys


def read_log(path):
    if os.path.isdir(path):
        path = os.path.join(path, "log.jsonl")
    train, evals = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                sys.exit(f"plot_training: {path}:{n}: not a JSON object")
            if r.get("type") == "train":
                train.append(r)
            elif r.get("type") == "eval":
                evals.append(r)
    if not train and not evals:
        sys.exit(f"plot_training: {path}: no training or evaluation records")
    return train, evals


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run directory or log.jsonl, optionally as LABEL=PATH")
    p.add_argument("-o", "--out", required=True, help="PNG to write")
    p.add_argument("--title", default="", help="figure title")
    a = p.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_training: needs matplotlib (sudo apt-get install python3-matplotlib)")

    fig, (ax_loss, ax_lr, ax_map) = plt.subplots(1, 3, figsize=(15, 4.2))
    for spec in a.runs:
        label, _, path = spec.rpartition("=") if "=" in spec else (os.path.basename(os.path.normpath(spec)), "", spec)
        train, evals = read_log(path)
        if train:
            ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label=label)
            ax_lr.plot([r["step"] for r in train], [r["lr"] for r in train], label=label)
        if evals:
            line, = ax_map.plot([r["step"] for r in evals], [r["map"] for r in evals], marker="o", label=label)
            ema = [(r["step"], r["ema"]["map"]) for r in evals if "ema" in r]
            if ema:
                ax_map.plot(*zip(*ema), linestyle="--", color=line.get_color(), label=label + " (EMA)")
    for ax, name in ((ax_loss, "training loss (BCE)"), (ax_lr, "learning rate"), (ax_map, "held-out mAP")):
        ax.set_xlabel("optimizer step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_loss.set_yscale("log")
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    tmp = a.out + ".tmp.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, a.out)
    print(f"plot_training: wrote {a.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
