#!/usr/bin/env python3
"""A linear baseline for a spectrogram HDF5 pair (docs/spectrogram-hdf5.md): per mel band the mean, standard
deviation and 90th percentile over time (3 x 128 features, standardised on the training set), one logistic
regression per class (scikit-learn, C=1), held-out mAP over the present classes as the engine reports it.
A class with no positive (or no negative) training clip scores a constant. Prints `linear baseline held-out
mAP: X (N classes)`.

Usage: python3 tools/linear_baseline.py TRAIN.h5 EVAL.h5
Needs h5py, numpy, scikit-learn.
"""
import sys

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score


def features(path):
    with h5py.File(path, "r") as f:
        x = f["logmel"][:].astype(np.float32)  # (N, 128, T)
        y = f["labels"][:].astype(np.int64)
    return np.concatenate([x.mean(2), x.std(2), np.percentile(x, 90, axis=2)], axis=1), y


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: linear_baseline.py TRAIN.h5 EVAL.h5")
    xt, yt = features(sys.argv[1])
    xe, ye = features(sys.argv[2])
    mu, sd = xt.mean(0), xt.std(0) + 1e-6
    xt, xe = (xt - mu) / sd, (xe - mu) / sd
    present = [c for c in range(ye.shape[1]) if 0 < ye[:, c].sum() < len(ye)]
    aps = []
    for c in present:
        if 0 < yt[:, c].sum() < len(yt):
            scores = LogisticRegression(C=1.0, max_iter=2000).fit(xt, yt[:, c]).decision_function(xe)
        else:
            scores = np.zeros(len(ye))
        aps.append(average_precision_score(ye[:, c], scores))
    print(f"linear baseline held-out mAP: {np.mean(aps):.4f} ({len(present)} classes)")


if __name__ == "__main__":
    main()
