#!/usr/bin/env python3
"""Writes the log-mel front-end goldens in tests/data/logmel/, read by tests/test_logmel.cpp.

Reference: torchaudio (run with /work/venv-ta/bin/python: torch 2.11 + torchaudio 2.11), exactly the
transform chain of DCLS-Audio datasets.py for evaluation (recipe.md D.2 steps 1, 4, 6, 7):
    Spectrogram(n_fft=1024, hop_length=320, power=2) -> MelScale(n_mels=128, sample_rate=32000, f_min=50,
    f_max=14000, n_stft=513) -> AmplitudeToDB()        (all float32, CPU, one thread)

Files:
  sig32k.flac            10 s, 32 kHz, mono, 16-bit: seeded log chirp 50 Hz -> 15 kHz + noise, digital
                         silence, a noise burst, a 3-LSB sine, tones (100 Hz, 3 kHz, 15.5 kHz) + a falling
                         chirp that runs to the last sample (so the reflect padding at both ends sees signal).
                         Read as int16 / 2**15, as DCLS-Audio reads its PANNs HDF5 waveforms.
  sig32k.safetensors     frames (S,) i64: the stored frame indices (16 at each end, 3 either side of each
                         segment boundary, every 12th elsewhere)
                         db (128, S) f32: torchaudio's dB log-mel of sig32k.flac at those frames, float32
                         chain (the authors' numbers)
                         db64 (128, S) f32: the same chain built and run in float64 (window and filter bank
                         computed in float64 too: the exact formula), rounded to float32
                         fb_start, fb_count (128,) i64, fb_values (nnz,) f32: the non-zero run of each column
                         of torchaudio.functional.melscale_fbanks(513, 50, 14000, 128, 32000, norm=None,
                         mel_scale="htk"), shape (513, 128), every other entry 0; fb64_*: the same in float64
                         metadata: torch / torchaudio versions, n_frames, fb_shape, f32_vs_f64_max_db
  stereo44k.flac         1 s, 44.1 kHz, stereo, 16-bit: left = log chirp 100 Hz -> 20 kHz + noise,
                         right = tones 250 Hz ... 18 kHz + a noise burst.
  stereo44k.safetensors  frames (106,) = 0 .. 105, db (128, 106): torchaudio's float32 log-mel of the channel
                         mean, resampled with torchaudio.functional.resample(x, 44100, 32000) (defaults:
                         sinc_interp_hann, lowpass_filter_width 6, rolloff 0.99) and right-padded with zeros to
                         320000 samples (the content ends at frame 100); metadata resampled_length.

The script prints how far torchaudio's float32 result is from the float64 chain: the float32 rounding
inside the authors' front end, by which an exact implementation differs from their numbers.

Usage: /work/venv-ta/bin/python tools/gen_logmel_golden.py [--out DIR]   (default tests/data/logmel)
Seeds are fixed and torch runs single-threaded, so a rerun with the same versions gives identical files.
"""
import argparse
import os

import numpy as np
import soundfile as sf
import torch
import torchaudio
import torchaudio.functional as AF
import torchaudio.transforms as AT
from safetensors.torch import save_file

SR = 32000
CLIP = 320000
N_MELS = 128


def chain(dtype):
    # The default dtype decides the dtype in which the Hann window and the filter bank are computed:
    # float64 gives the exact formula, not float32 values cast up.
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        spec = AT.Spectrogram(n_fft=1024, hop_length=320, power=2)
        mel = AT.MelScale(n_mels=N_MELS, sample_rate=SR, f_min=50, f_max=14000, n_stft=513)
        db = AT.AmplitudeToDB()
    finally:
        torch.set_default_dtype(saved)
    assert spec.window.dtype == dtype and mel.fb.dtype == dtype
    return torch.nn.Sequential(spec, mel, db)


def logmel(wave_f32):
    """wave (T,) float32 numpy -> (128, 1001) dB, float32 and float64 chains."""
    x = torch.from_numpy(wave_f32)[None]
    with torch.no_grad():
        y32 = chain(torch.float32)(x)[0]
        y64 = chain(torch.float64)(x.double())[0]
    return y32.numpy(), y64.numpy()


def quantize(x):
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def log_chirp(t, f0, f1, dur):
    k = np.log(f1 / f0) / dur
    return np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)


def signal_32k(rng):
    t = np.arange(CLIP) / SR
    x = np.zeros(CLIP)
    seg = lambda a, b: (t >= a) & (t < b)
    m = seg(0.0, 3.0)
    x[m] = 0.5 * log_chirp(t[m], 50.0, 15000.0, 3.0) + rng.normal(0, 1e-4, m.sum())
    # 3.0 - 3.7 s: digital silence
    m = seg(3.7, 4.2)
    x[m] = rng.normal(0, 0.1, m.sum())
    # 4.2 - 5.0 s: digital silence
    m = seg(5.0, 6.0)
    x[m] = 3.0 / 32768 * np.sin(2 * np.pi * 1000 * t[m])
    m = seg(6.0, 10.01)
    tm = t[m] - 6.0
    tones = sum(0.08 * np.sin(2 * np.pi * f * tm) for f in (100.0, 3000.0, 15500.0))
    fall = 0.2 * np.sin(2 * np.pi * (14000.0 * tm - 0.5 * (13950.0 / 4.0) * tm**2))
    x[m] = tones + fall + rng.normal(0, 1e-4, m.sum())
    boundaries = [3.0, 3.7, 4.2, 5.0, 6.0]
    return quantize(x), boundaries


def signal_44k_stereo(rng):
    sr, n = 44100, 44100
    t = np.arange(n) / sr
    left = 0.3 * log_chirp(t, 100.0, 20000.0, 1.0) + rng.normal(0, 1e-3, n)
    right = sum(0.05 * np.sin(2 * np.pi * f * t) for f in (250.0, 1000.0, 5000.0, 11000.0, 18000.0))
    burst = (t >= 0.4) & (t < 0.6)
    right[burst] += rng.normal(0, 0.05, burst.sum())
    return np.stack([quantize(left), quantize(right)], axis=1), sr


def sparse_columns(fb):
    """fb (513, 128) -> start, count (128,) i64: each column's non-zero run; values: the runs concatenated."""
    starts, counts, values = [], [], []
    for m in range(fb.shape[1]):
        nz = torch.nonzero(fb[:, m]).flatten()
        lo, hi = int(nz.min()), int(nz.max()) + 1
        assert bool((fb[lo:hi, m] > 0).all())
        starts.append(lo)
        counts.append(hi - lo)
        values.append(fb[lo:hi, m])
    return {"start": torch.tensor(starts, dtype=torch.int64), "count": torch.tensor(counts, dtype=torch.int64),
            "values": torch.cat(values).contiguous()}


def frame_subset(boundaries_s, n_frames):
    keep = set(range(0, 16)) | set(range(n_frames - 16, n_frames)) | set(range(0, n_frames, 12))
    for b in boundaries_s:
        c = int(round(b * SR)) // 320
        keep |= set(range(max(c - 3, 0), min(c + 4, n_frames)))
    return np.array(sorted(keep), dtype=np.int64)


def report(name, y32, y64):
    above = y64 > -100.0 + 1e-6
    err = np.abs(y32.astype(np.float64) - y64)
    print(f"{name}: torchaudio f32 vs f64 max |dB| diff over {above.sum()} values above the floor: "
          f"{err[above].max():.3g} dB; values at the -100 dB floor (f64): {(~above).sum()}")
    return float(err[above].max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "logmel"))
    out = ap.parse_args().out
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    rng = np.random.default_rng(20240611)
    versions = {"torch": torch.__version__, "torchaudio": torchaudio.__version__}

    # (a) 32 kHz mono clip, no resampling.
    q, boundaries = signal_32k(rng)
    path = os.path.join(out, "sig32k.flac")
    sf.write(path, q, SR, subtype="PCM_16", format="FLAC", compression_level=1.0)
    wave, sr = sf.read(path, dtype="float32")
    assert sr == SR and np.array_equal(wave, q.astype(np.float32) / 32768.0)
    y32, y64 = logmel(wave)
    assert y32.shape == (N_MELS, 1001)
    f32_err = report("sig32k", y32, y64)
    frames = frame_subset(boundaries, y32.shape[1])
    fb32 = sparse_columns(AF.melscale_fbanks(513, 50.0, 14000.0, N_MELS, SR, None, "htk"))  # (513, 128) f32
    torch.set_default_dtype(torch.float64)
    fb64 = sparse_columns(AF.melscale_fbanks(513, 50.0, 14000.0, N_MELS, SR, None, "htk"))  # (513, 128) f64
    torch.set_default_dtype(torch.float32)
    save_file(
        {
            "frames": torch.from_numpy(frames),
            "db": torch.from_numpy(np.ascontiguousarray(y32[:, frames])),
            "db64": torch.from_numpy(np.ascontiguousarray(y64[:, frames]).astype(np.float32)),
            **{f"fb_{k}": v for k, v in fb32.items()},
            **{f"fb64_{k}": v for k, v in fb64.items()},
        },
        os.path.join(out, "sig32k.safetensors"),
        metadata={**versions, "n_frames": str(y32.shape[1]), "fb_shape": "513,128",
                  "f32_vs_f64_max_db": f"{f32_err:.3g}"},
    )

    # (b) 44.1 kHz stereo: mixdown (channel mean), torchaudio resample to 32 kHz, pad to 10 s.
    st, sr = signal_44k_stereo(rng)
    path = os.path.join(out, "stereo44k.flac")
    sf.write(path, st, sr, subtype="PCM_16", format="FLAC", compression_level=1.0)
    both, sr2 = sf.read(path, dtype="float32")
    assert sr2 == sr and both.shape == st.shape
    mono = torch.from_numpy(both).mean(dim=1)
    res = AF.resample(mono[None], sr, SR)[0]
    padded = torch.nn.functional.pad(res, (0, CLIP - res.numel())).numpy()
    y32, y64 = logmel(padded)
    report("stereo44k", y32, y64)
    frames = np.arange(0, 106, dtype=np.int64)
    save_file(
        {"frames": torch.from_numpy(frames), "db": torch.from_numpy(np.ascontiguousarray(y32[:, frames]))},
        os.path.join(out, "stereo44k.safetensors"),
        metadata={**versions, "n_frames": str(y32.shape[1]), "resampled_length": str(res.numel())},
    )
    for f in sorted(os.listdir(out)):
        print(f, os.path.getsize(os.path.join(out, f)), "bytes")


if __name__ == "__main__":
    main()
