#!/usr/bin/env python3
"""A plain convolutional baseline for a spectrogram HDF5 pair (not the paper's model): how much a small
conventional CNN learns from the same data in a short schedule, beside tools/linear_baseline.py and the
paper's ConvNeXt (docs/training.md).

The input is average-pooled 2x4 (mel x time) to 64 x 250, then four blocks of two 3x3 conv-BatchNorm-ReLU
(widths w, 2w, 4w, 4w; 2x2 average pooling after the first three), the mean over frequency, max + mean over
time, and a linear layer. AdamW (weight decay 0.05) with a one-cycle schedule, batch 32, BCE-with-logits, no
augmentation. Prints the held-out mAP (classes present, as the engine reports it) and a train-subset mAP
after every epoch.

Usage: python3 tools/cnn_baseline.py TRAIN.h5 EVAL.h5 [--epochs 25] [--lr 3e-3] [--width 24] [--threads 2]
Needs torch, h5py, numpy, scikit-learn.
"""
import argparse
import time

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

MEAN, STD = -18.2696, 30.5735  # the engine's normalisation (recipe.md D.2 step 8)


def load(path):
    with h5py.File(path, "r") as f:
        x = (f["logmel"][:].astype(np.float32) - MEAN) / STD
        return torch.from_numpy(x), torch.from_numpy(f["labels"][:].astype(np.float32))


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class PlainCNN(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        w = width
        self.blocks = nn.ModuleList([block(1, w), block(w, 2 * w), block(2 * w, 4 * w), block(4 * w, 4 * w)])
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):  # x (B, M, T)
        x = F.avg_pool2d(x[:, None], (2, 4))
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i < 3:
                x = F.avg_pool2d(x, 2)
        x = x.mean(2)
        return self.fc(x.max(2)[0] + x.mean(2))


def mean_ap(model, x, y):
    model.eval()
    with torch.no_grad():
        s = torch.cat([torch.sigmoid(model(x[i:i + 64])) for i in range(0, len(x), 64)]).numpy()
    model.train()
    y = y.numpy()
    present = [c for c in range(y.shape[1]) if 0 < y[:, c].sum() < len(y)]
    return float(np.mean([average_precision_score(y[:, c], s[:, c]) for c in present])), len(present)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("train")
    p.add_argument("eval")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xt, yt = load(a.train)
    xe, ye = load(a.eval)
    model = PlainCNN(a.width, yt.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    batch = 32
    steps = a.epochs * (len(xt) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps, pct_start=0.1)
    start = time.time()
    for epoch in range(a.epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt) - batch + 1, batch):
            idx = perm[i:i + batch]
            loss = F.binary_cross_entropy_with_logits(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        held, n = mean_ap(model, xe, ye)
        train, _ = mean_ap(model, xt[:500], yt[:500])
        print(f"epoch {epoch + 1}/{a.epochs}  {time.time() - start:.0f} s  loss {loss.item():.4f}  "
              f"held-out mAP {held:.4f} ({n} classes)  train-subset mAP {train:.4f}", flush=True)
    print(f"plain CNN held-out mAP: {held:.4f} ({n} classes)")


if __name__ == "__main__":
    main()
