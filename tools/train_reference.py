#!/usr/bin/env python3
"""Trains a model with the paper's PyTorch code on our spectrogram HDF5 files (docs/spectrogram-hdf5.md) and
prints its held-out mAP, to compare with the engine's trainer on the same config. Writes nothing but stdout and,
with --jsonl, the per-epoch records in the engine's log.jsonl form.

Usage:
  python3 tools/train_reference.py --config configs/demo.toml --seed S [--set section.key=value ...]
                                   [--threads N] [--jsonl out.jsonl] [--eval-every-epoch] [--ref DCLS-Audio]
Run from the repository root: relative data paths in the config are taken from the current directory. --ref is a
clone of K-H-Ismail/DCLS-Audio (default $DCLS_AUDIO, else /tmp/DCLS-Audio); needs torch, timm 0.6.13, DCLS 0.1.1,
safetensors (gen_model_golden.py's version check; --force accepts others), h5py, numpy, sklearn.

What the paper's code does here (imported from the clone, nothing copied):
  model      gen_model_golden.build: the paper's class at [model] dims/depths (empty or absent: the paper's),
             drop_path, main.py's layer_scale_init_value 1e-6, the file's replace_depthwise_dcls for variant
             "dcls", the audio stem; built after torch.manual_seed(seed) as main.py does. model.norm = "batch"
             (ConvNeXt only, not the paper's): every LayerNorm is then replaced by a BatchNorm2d (eps 1e-5,
             momentum 0.1) under the same name, as the engine's models/convnext.h does; model.head_pool =
             "time_max_mean" (ConvNeXt only, not the paper's): forward_features pools the last stage as the
             max + mean over time of its frequency mean, as the engine's ops/pool.h does
  groups     optim_factory.create_optimizer(args, model, skip_list=None) (main.py's call): AdamW (torch) or Lamb
             (timm) over the decay / no_decay / no_decay_dcls groups; dcls_lr_scale replaces the paper's fixed 5
             if it differs; Lamb's max_grad_norm is optim.max_grad_norm (the paper's is Lamb's default 1.0);
             AdamW has no clipping, as in the paper
  schedule   utils.cosine_scheduler(lr_eff, min_lr, epochs, niter, warmup_epochs, warmup_steps=warmup_steps) per
             optimizer step, lr_eff = lr * batch * update_freq / lr_batch, niter = N_train // (batch * update_freq);
             group lr = schedule[it] * lr_scale (engine.py). With warmup_steps > 0 and warmup_epochs 0 the
             paper's function would assert, so warmup_epochs 1 is passed (only its sign matters then)
  batches    one permutation per epoch from torch.Generator seeded with seed + epoch, consecutive slices of
             `batch` clips, short last batch dropped; update_freq micro-batches per step, each loss divided
             by update_freq before backward (engine.py)
  targets    y -> (1 - s) y + s / K (label_smoothing s), then, if mixup_alpha > 0, utils.batch_mixup_fn (which
             does the smoothing and mixup: lam ~ Beta(a, a) per batch, randperm(B), recipe D.3) on the global
             torch RNG; loss BCEWithLogitsLoss (mean)
  input      logmel (N, 128, T) read with h5py into memory as float32, (x - (-18.2696)) / 30.5735 in float32
             (data/loader.h's defaults: subtract, then divide), shaped (N, 1, 128, T)
  metric     held-out mAP = mean over the present classes (0 < positives < N) of sklearn's
             average_precision_score on the eval-mode logits, at the end (and every epoch with
             --eval-every-epoch); also mAUC and d' (mean of per-class d', DCLS-Audio's convention)
Not reproduced: data.augment (no augmentation at all: printed when the config asks for it), EMA, checkpoints,
train.eval_every / keep_last / out / on_nonfinite / workers. One process, no distributed sampler.

Printed: per epoch `epoch E/EPOCHS: train loss L, S samples/s, lr X, T s` (loss = mean over micro-batches),
every train.log_every optimizer steps a progress line, and at the end exactly
`reference held-out mAP: X (N classes)`. --jsonl: the engine's log.jsonl records (docs/training.md), per epoch
{"type": "train", "step", "epoch", "loss" (epoch mean), "lr", "samples_per_s"} and, for the epochs evaluated,
{"type": "eval", "step", "epoch", "map", "mauc", "dprime_mean_of_classes" (null when infinite), "classes"}.
"""
import argparse
import contextlib
import io
import json
import logging
import math
import sys
import time
import types
import tomllib

import h5py
import numpy as np
import torch
import torch.nn as nn
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score

from gen_model_golden import PAPER_SIZE, build, check_versions
from paper_models import DEFAULT_REF, MODEL_NAMES, create_paper_optimizer, import_paper_training

AUDIOSET_MEAN, AUDIOSET_STD = np.float32(-18.2696), np.float32(30.5735)  # data/loader.h


def defaults(arch):
    """Our TrainConfig defaults (train/config.h), with paper_config's ConvFormer changes (LAMB, 64 x 2)."""
    convformer = arch == "convformer"
    return {
        "model": {"arch": arch, "variant": "dcls", "dims": [], "depths": [], "drop_path": 0.4, "num_classes": 527,
                  "layer_scale_init": 1e-6, "norm": "layer", "head_pool": "mean"},
        "data": {"train": None, "eval": None, "augment": True, "mixup_alpha": 0.8, "label_smoothing": 0.1,
                 "eval_batch": 64},
        "optim": {"optimizer": "lamb" if convformer else "adamw", "lr": 4e-3, "lr_batch": 4096, "min_lr": 1e-6,
                  "warmup_epochs": 20, "warmup_steps": -1, "weight_decay": 0.05, "beta1": 0.9, "beta2": 0.999,
                  "eps": 1e-8, "dcls_lr_scale": 5.0, "max_grad_norm": 1.0},
        "train": {"epochs": 60, "batch": 64 if convformer else 128, "update_freq": 2 if convformer else 1, "seed": 0,
                  "device": "auto", "ema": False, "log_every": 50},
    }


def parse_value(text):
    """A --set value as TOML (numbers, booleans, lists, quoted strings); anything else is a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_config(path, sets, seed):
    with open(path, "rb") as f:
        given = tomllib.load(f)
    for item in sets:
        key, sep, text = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            sys.exit(f"train_reference: --set wants section.key=value, got '{item}'")
        given.setdefault(section, {})[name] = parse_value(text.strip())
    if seed is not None:
        given.setdefault("train", {})["seed"] = seed
    cfg = defaults(given.get("model", {}).get("arch", "convnext"))
    for section, values in cfg.items():
        values.update(given.get(section, {}))  # keys we do not use (workers, out, ...) are carried and ignored
    for key in ("train", "eval"):
        if not cfg["data"][key]:
            sys.exit(f"train_reference: {path}: data.{key} is required")
    return cfg


class BatchNormInLayerNormsPlace(nn.BatchNorm2d):
    """nn.BatchNorm2d on what the LayerNorm it replaces received: (N, C, H, W) for the paper's channels_first
    LayerNorm, (N, H, W, C) for its channels_last one, (N, C) for the head's nn.LayerNorm (as BatchNorm1d)."""

    def __init__(self, channels, channels_last):
        super().__init__(channels)
        self.channels_last = channels_last

    def _check_input_dim(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"expected a 2-D or 4-D input, got {x.dim()}-D")

    def forward(self, x):
        if self.channels_last and x.dim() == 4:
            return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return super().forward(x)


def replace_layer_norms(model):
    """Every LayerNorm of the paper's ConvNeXt (its own class and the head's nn.LayerNorm) by a BatchNorm."""
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.LayerNorm):
                bn = BatchNormInLayerNormsPlace(child.normalized_shape[0], channels_last=False)
            elif type(child).__name__ == "LayerNorm":  # models/convnext.py's, with data_format
                bn = BatchNormInLayerNormsPlace(child.weight.shape[0], child.data_format == "channels_last")
            else:
                continue
            setattr(parent, child_name, bn)


def time_max_mean_forward_features(self, x):
    """The paper's ConvNeXt.forward_features with the head's pooling of ops/pool.h's time_max_mean_pool."""
    for i in range(4):
        x = self.downsample_layers[i](x)
        x = self.stages[i](x)
    m = x.mean(2)  # (N, C, H, W) -> (N, C, W): the frequency mean
    return self.norm(m.amax(2) + m.mean(2))


def load_h5(path, num_classes, chunk=256):
    """(x (N, 1, M, T) float32 normalised as our loader does, y (N, K) float32) from a spectrogram HDF5 file."""
    with h5py.File(path, "r") as f:
        logmel, labels = f["logmel"], f["labels"]
        n, m, t = logmel.shape
        if labels.shape != (n, num_classes):
            sys.exit(f"train_reference: {path}: labels {labels.shape}, the model has {num_classes} classes")
        x = np.empty((n, 1, m, t), dtype=np.float32)
        for i in range(0, n, chunk):
            block = logmel[i:i + chunk].astype(np.float32)
            x[i:i + chunk, 0] = (block - AUDIOSET_MEAN) / AUDIOSET_STD
        y = labels[:].astype(np.float32)
    if not np.isfinite(x).all():
        sys.exit(f"train_reference: {path}: the log-mels contain NaN or inf")
    return torch.from_numpy(x), torch.from_numpy(y)


def held_out_metrics(model, x, y, batch, device):
    """mAP, mAUC, mean per-class d' over the present classes, and their number."""
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)])
    model.train()
    scores, targets = logits.double().numpy(), y.numpy().astype(np.int64)
    positives = targets.sum(0)
    present = [c for c in range(targets.shape[1]) if 0 < positives[c] < len(targets)]
    if not present:
        sys.exit("train_reference: no class of the held-out set has both positives and negatives")
    ap = [average_precision_score(targets[:, c], scores[:, c]) for c in present]
    auc = [roc_auc_score(targets[:, c], scores[:, c]) for c in present]
    dprime = float(np.mean([math.sqrt(2) * norm.ppf(a) for a in auc]))
    return float(np.mean(ap)), float(np.mean(auc)), dprime, len(present)


def pick_device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def notes(cfg):
    """What the config asks for that this reference does not do, or does differently from the paper."""
    out = []
    if cfg["data"]["augment"]:
        out.append("data.augment = true is ignored: the reference trains without augmentation")
    if cfg["train"]["ema"]:
        out.append("train.ema = true is ignored: no EMA")
    if cfg["model"]["layer_scale_init"] != 1e-6:
        out.append(f"model.layer_scale_init = {cfg['model']['layer_scale_init']} is ignored: main.py's 1e-6 is used")
    if cfg["optim"]["dcls_lr_scale"] != 5.0:
        out.append(f"optim.dcls_lr_scale = {cfg['optim']['dcls_lr_scale']} replaces the paper's 5")
    if cfg["optim"]["optimizer"] == "lamb" and cfg["optim"]["max_grad_norm"] != 1.0:
        out.append(f"optim.max_grad_norm = {cfg['optim']['max_grad_norm']} replaces Lamb's (the paper's) 1.0")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="our TOML training config")
    ap.add_argument("--seed", type=int, help="overrides train.seed")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a config key")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    ap.add_argument("--jsonl", help="write one JSON object per epoch to this file")
    ap.add_argument("--eval-every-epoch", action="store_true", help="held-out mAP after every epoch, not only the last")
    ap.add_argument("--ref", default=DEFAULT_REF, help="clone of K-H-Ismail/DCLS-Audio (default $DCLS_AUDIO, else "
                                                         "/tmp/DCLS-Audio)")
    ap.add_argument("--force", action="store_true", help="accept timm/DCLS versions other than the pinned ones")
    args = ap.parse_args()

    cfg = load_config(args.config, args.set, args.seed)
    mc, dc, oc, tc = cfg["model"], cfg["data"], cfg["optim"], cfg["train"]
    if (mc["arch"], mc["variant"]) not in MODEL_NAMES:
        sys.exit(f"train_reference: unknown model.arch/variant {mc['arch']}/{mc['variant']}")
    if oc["optimizer"] not in ("adamw", "lamb"):
        sys.exit(f"train_reference: optim.optimizer must be adamw or lamb, got {oc['optimizer']}")
    logging.disable(logging.WARNING)  # DCLS logs a fallback warning for every Dcls2d built on a CPU
    check_versions(args.force)
    torch.set_num_threads(args.threads)
    paper, utils, optim_factory = import_paper_training(args.ref)
    device = pick_device(tc["device"])
    for line in notes(cfg):
        print("note: " + line)

    seed, K = tc["seed"], mc["num_classes"]
    x_train, y_train = load_h5(dc["train"], K)
    x_eval, y_eval = load_h5(dc["eval"], K)
    batch, update_freq, epochs = tc["batch"], tc["update_freq"], tc["epochs"]
    niter = len(x_train) // (batch * update_freq)
    if niter == 0:
        sys.exit(f"train_reference: {len(x_train)} training clips make no step of {batch} x {update_freq}")
    warmup = oc["warmup_steps"] if oc["warmup_steps"] > 0 else oc["warmup_epochs"] * niter
    if warmup >= epochs * niter:
        sys.exit(f"train_reference: {warmup} warm-up steps leave no step of the {epochs * niter} for the cosine")

    torch.manual_seed(seed)  # main.py: torch.manual_seed(seed); np.random.seed(seed), before the model
    np.random.seed(seed)
    default_depths, default_dims = PAPER_SIZE[mc["arch"]]
    depths, dims = list(mc["depths"]) or default_depths, list(mc["dims"]) or default_dims
    name = MODEL_NAMES[(mc["arch"], mc["variant"])]
    model = build(paper, name, depths, dims, K, drop_path_rate=mc["drop_path"])
    if mc["norm"] == "batch":
        if mc["arch"] != "convnext":
            sys.exit("train_reference: model.norm = batch is for convnext only")
        replace_layer_norms(model)
    if mc["head_pool"] == "time_max_mean":
        if mc["arch"] != "convnext":
            sys.exit("train_reference: model.head_pool = time_max_mean is implemented here for convnext only")
        model.forward_features = types.MethodType(time_max_mean_forward_features, model)
    elif mc["head_pool"] != "mean":
        sys.exit(f"train_reference: model.head_pool = {mc['head_pool']!r}: expected mean or time_max_mean")
    model = model.to(device)
    model.train()

    lr = oc["lr"] * batch * update_freq / oc["lr_batch"]
    optimizer, groups = create_paper_optimizer(optim_factory, model, oc["optimizer"], lr=lr,
                                               weight_decay=oc["weight_decay"], eps=oc["eps"],
                                               betas=[oc["beta1"], oc["beta2"]])
    for gname, group in zip(groups, optimizer.param_groups):
        if gname == "no_decay_dcls":
            group["lr_scale"] = oc["dcls_lr_scale"]
    if oc["optimizer"] == "lamb":
        optimizer.defaults["max_grad_norm"] = oc["max_grad_norm"]  # Lamb reads it from defaults, for all groups
    warmup_epochs = max(oc["warmup_epochs"], 1) if oc["warmup_steps"] > 0 else oc["warmup_epochs"]
    with contextlib.redirect_stdout(io.StringIO()):  # cosine_scheduler prints the warm-up length
        schedule = utils.cosine_scheduler(lr, oc["min_lr"], epochs, niter, warmup_epochs=warmup_epochs,
                                          warmup_steps=oc["warmup_steps"])
    n_params = sum(p.numel() for p in model.parameters())
    print(f"reference: {name} depths {depths} dims {dims}, norm {mc['norm']}, head pool {mc['head_pool']}, "
          f"{n_params:,} parameters, {device}, {args.threads} threads; "
          f"train {len(x_train)} clips ({dc['train']}), eval {len(x_eval)} ({dc['eval']}); {oc['optimizer']} lr "
          f"{lr:.6g} (= {oc['lr']} x {batch * update_freq} / {oc['lr_batch']}), {warmup} warm-up steps, min_lr "
          f"{oc['min_lr']}; {epochs} epochs x {niter} steps of {batch} x {update_freq}; mixup {dc['mixup_alpha']}, "
          f"label smoothing {dc['label_smoothing']}; seed {seed}")
    print("groups: " + ", ".join(f"{g} {len(v['params'])} tensors (wd {pg['weight_decay']}, lr x{pg['lr_scale']})"
                                 for (g, v), pg in zip(groups.items(), optimizer.param_groups)))

    criterion = nn.BCEWithLogitsLoss()
    smoothing, alpha = dc["label_smoothing"], dc["mixup_alpha"]
    jsonl = open(args.jsonl, "w") if args.jsonl else None
    result = None
    for epoch in range(epochs):
        perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed + epoch))
        start, losses = time.perf_counter(), []
        for step in range(niter):
            it = epoch * niter + step
            for group in optimizer.param_groups:
                group["lr"] = schedule[it] * group["lr_scale"]
            for micro in range(update_freq):
                idx = perm[(step * update_freq + micro) * batch:][:batch]
                x, y = x_train[idx].to(device), y_train[idx].to(device)
                if alpha > 0:
                    x, y = utils.batch_mixup_fn(x, y, alpha, smoothing, K)
                elif smoothing > 0:
                    y = (1 - smoothing) * y + smoothing / K
                loss = criterion(model(x), y)
                losses.append(loss.item())
                (loss / update_freq).backward()
            optimizer.step()
            optimizer.zero_grad()
            if tc["log_every"] > 0 and (step + 1) % tc["log_every"] == 0:
                print(f"  epoch {epoch + 1} step {step + 1}/{niter}: loss {np.mean(losses[-update_freq:]):.5f}, "
                      f"lr {schedule[it]:.6g}", flush=True)
        seconds = time.perf_counter() - start
        done = (epoch + 1) * niter
        records = [{"type": "train", "step": done, "epoch": epoch + 1, "loss": float(np.mean(losses)),
                    "lr": float(schedule[done - 1]), "samples_per_s": niter * batch * update_freq / seconds}]
        print(f"epoch {epoch + 1}/{epochs}: train loss {records[0]['loss']:.5f}, {records[0]['samples_per_s']:.2f} "
              f"samples/s, lr {records[0]['lr']:.6g}, {seconds:.1f} s", flush=True)
        if args.eval_every_epoch or epoch == epochs - 1:
            result = held_out_metrics(model, x_eval, y_eval, dc["eval_batch"], device)
            records.append({"type": "eval", "step": done, "epoch": epoch + 1, "map": result[0], "mauc": result[1],
                            "dprime_mean_of_classes": result[2] if math.isfinite(result[2]) else None,
                            "classes": result[3]})
            print(f"  held-out mAP {result[0]:.6f}, mAUC {result[1]:.6f}, d' {result[2]:.4f} ({result[3]} classes)")
        if jsonl:  # the engine's log.jsonl records, so that tools/plot_training.py draws both
            jsonl.writelines(json.dumps(r) + "\n" for r in records)
            jsonl.flush()
    if jsonl:
        jsonl.close()
    print(f"reference held-out mAP: {result[0]:.6f} ({result[3]} classes)")


if __name__ == "__main__":
    main()
