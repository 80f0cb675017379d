#!/usr/bin/env python3
"""Writes tests/data/augment/augment_golden.safetensors, read by tests/test_augment.cpp.

References: the paper's own code and libraries, run on the CPU with one thread:
  - DCLS-Audio augmentations.py (imported from --ref, not copied): Resample.resample_nearest, the
    nearest-neighbour index rule of SpeedPerturbation;
  - timm 0.6.13 timm/data/random_erasing.py (loaded from its file, so timm's torchvision imports are not
    needed): RandomErasing(0.25, mode="const", max_count=1, num_splits=False, device="cpu") as datasets.py
    builds it;
  - torchaudio Spectrogram(1024, hop 320, power 2) -> MelScale(128, 32000, 50, 14000, 513) -> AmplitudeToDB(),
    the chain of recipe.md D.2.

Tensors:
  speed_rates (R,) f64, speed_lengths (R,) i64, speed_index (sum of lengths,) i32:
      Resample.resample_nearest(arange(1001), rate) for fixed rates and for rates drawn as the paper draws
      them (torch Uniform(0.5, 1.5).sample().item()); the frame-index golden of our speed perturbation.
  tone_in (128, 151) f32: log-mel of a 1.5 s waveform (0.3-amplitude tones 500 Hz, 2 kHz, 6 kHz for 0.5 s
      each, plus 1e-3 noise); 151 = 48000 / 320 + 1 frames.
  tone_out_<i> (128, 151) f32, tone_cases (C, 3) f64 [rate, left pad frames, crop start frames]: log-mel of
      the same waveform after the paper's speed perturbation at that rate (resample_nearest on the samples,
      then the pad / crop of SpeedPerturbation with the left pad or crop start fixed at frames * 320 samples
      instead of drawn): the truth our log-mel approximation is compared with.
  erase_in (128, 16) f32: dB mel of a flat power spectrogram (all ones, 513 x 16), computed in float64;
  erase_rects (E, 4) i64 [top, h, left, w]; erase_out_<i> (128, 16) f32: dB mel after setting that
      rectangle of the linear spectrogram to 0 (float64). For a flat spectrum our mel-domain erasing is exact.
  erasing_stats (8,) f64 [n, n_erased, mean h, var h, mean w, var w, mean area fraction, var area fraction]:
      timm RandomErasing on a (1, 513, 1001) tensor of ones, n times; h, w = the erased rectangle's extent.

Usage: /work/venv-ta/bin/python tools/gen_augment_reference.py [--ref /work/ref/DCLS-Audio] [--out DIR]
Seeds are fixed, so a rerun with the same versions gives identical files.
"""
import argparse
import importlib.util
import os
import random
import sys

import numpy as np
import torch
import torchaudio
import torchaudio.transforms as AT
from safetensors.torch import save_file

SR, HOP, N_MELS, N_FREQ = 32000, 320, 128, 513


def load_timm_random_erasing():
    spec = importlib.util.find_spec("timm")
    path = os.path.join(os.path.dirname(spec.origin), "data", "random_erasing.py")
    mod_spec = importlib.util.spec_from_file_location("timm_random_erasing", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.RandomErasing


def mel_chain():
    mel = AT.MelScale(n_mels=N_MELS, sample_rate=SR, f_min=50, f_max=14000, n_stft=N_FREQ)
    return AT.Spectrogram(n_fft=1024, hop_length=HOP, power=2), mel, AT.AmplitudeToDB()


def logmel(wave):
    spec, mel, db = mel_chain()
    with torch.no_grad():
        return db(mel(spec(wave[None])))[0].contiguous()


def speed_goldens(Resample):
    T = 1001
    torch.manual_seed(1234)
    sampler = torch.distributions.Uniform(0.5, 1.5)
    rates = [0.5, 0.8, 1.0, 1.25, 1.5, 2.0 / 3.0, 0.9999, 1.0001] + [sampler.sample().item() for _ in range(8)]
    frames = torch.arange(T, dtype=torch.float64)[None]
    res = Resample(rates=(0.5, 1.5), dim=-1)
    lengths, index = [], []
    for r in rates:
        idx = res.resample_nearest(frames, r)[0].long()
        lengths.append(idx.numel())
        index.append(idx.to(torch.int32))
    return {
        "speed_rates": torch.tensor(rates, dtype=torch.float64),
        "speed_lengths": torch.tensor(lengths, dtype=torch.int64),
        "speed_index": torch.cat(index).contiguous(),
    }


def tone_goldens(Resample):
    n = 48000
    t = np.arange(n) / SR
    x = np.random.default_rng(20240612).normal(0, 1e-3, n)
    for a, b, f in [(0.0, 0.5, 500.0), (0.5, 1.0, 2000.0), (1.0, 1.5, 6000.0)]:
        m = (t >= a) & (t < b)
        x[m] += 0.3 * np.sin(2 * np.pi * f * t[m])
    wave = torch.tensor(x, dtype=torch.float32)
    out = {"tone_in": logmel(wave)}
    cases = [(0.7, 20, 0), (0.55, 5, 0), (1.3, 0, 30), (1.5, 0, 70)]
    res = Resample(rates=(0.5, 1.5), dim=-1)
    for i, (rate, left, start) in enumerate(cases):
        y = res.resample_nearest(wave, rate)
        if y.numel() < n:  # SpeedPerturbation's Pad (align "random") with the left pad fixed
            missing = n - y.numel()
            assert left * HOP <= missing
            y = torch.nn.functional.pad(y, (left * HOP, missing - left * HOP))
        elif y.numel() > n:  # its Crop (align "random") with the start fixed
            assert start * HOP < y.numel() - n
            y = y[start * HOP: start * HOP + n]
        out[f"tone_out_{i}"] = logmel(y)
    out["tone_cases"] = torch.tensor(cases, dtype=torch.float64)
    return out


def erase_goldens():
    # float64 chain, stored as float32: torchaudio's float32 filter bank alone is off by up to 3e-4 dB where
    # most of a filter's weight is erased (a small kept fraction amplifies its relative rounding error).
    torch.set_default_dtype(torch.float64)  # melscale_fbanks builds its grid with the default dtype
    _, mel, db = mel_chain()
    torch.set_default_dtype(torch.float32)
    assert mel.fb.dtype == torch.float64
    T = 16
    rects = [(0, 5, 2, 3), (3, 1, 7, 1), (100, 60, 0, 16), (250, 200, 10, 6), (400, 113, 5, 11), (0, 513, 15, 1)]
    out = {}
    with torch.no_grad():
        out["erase_in"] = db(mel(torch.ones(1, N_FREQ, T, dtype=torch.float64)))[0].float().contiguous()
        for i, (top, h, left, w) in enumerate(rects):
            spec = torch.ones(1, N_FREQ, T, dtype=torch.float64)
            spec[:, top:top + h, left:left + w] = 0
            out[f"erase_out_{i}"] = db(mel(spec))[0].float().contiguous()
    out["erase_rects"] = torch.tensor(rects, dtype=torch.int64)
    return out


def erasing_stats(RandomErasing, n):
    random.seed(20240613)
    erase = RandomErasing(0.25, mode="const", max_count=1, num_splits=False, device="cpu")
    img = torch.ones(1, N_FREQ, 1001)
    hs, ws = [], []
    for _ in range(n):
        erase(img)
        zero = img[0] == 0
        if bool(zero.any()):
            rows = torch.nonzero(zero.any(dim=1)).flatten()
            cols = torch.nonzero(zero.any(dim=0)).flatten()
            hs.append(int(rows[-1] - rows[0] + 1))
            ws.append(int(cols[-1] - cols[0] + 1))
            img.fill_(1)
    h, w = np.array(hs, dtype=np.float64), np.array(ws, dtype=np.float64)
    frac = h * w / (N_FREQ * 1001)
    stats = [n, len(hs), h.mean(), h.var(ddof=1), w.mean(), w.var(ddof=1), frac.mean(), frac.var(ddof=1)]
    print("timm erasing stats:", [f"{v:.6g}" for v in stats])
    return {"erasing_stats": torch.tensor(stats, dtype=torch.float64)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="/work/ref/DCLS-Audio", help="clone of the paper's code (augmentations.py)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "augment"))
    ap.add_argument("--erasing-samples", type=int, default=40000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, args.ref)
    from augmentations import Resample  # the paper's nearest-neighbour resampler

    tensors = {**speed_goldens(Resample), **tone_goldens(Resample), **erase_goldens(),
               **erasing_stats(load_timm_random_erasing(), args.erasing_samples)}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "augment_golden.safetensors")
    save_file(tensors, path, metadata={"torch": torch.__version__, "torchaudio": torchaudio.__version__})
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
