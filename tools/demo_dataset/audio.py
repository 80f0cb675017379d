"""Audio helpers: decoding through sox, silence trimming, level measures and the linear filters of the mixer.

Every signal is float32 mono at SAMPLE_RATE. Filters work in the FFT domain (zero-phase, no scipy needed).
Legend: n = samples, sr = sample rate.
"""
import hashlib
import os
import subprocess
import wave

import numpy as np

from .catalog import SAMPLE_RATE

FRAME = SAMPLE_RATE // 50  # 20 ms analysis frames
ACTIVE_DB = 30.0           # a frame is active when within 30 dB of the event's loudest frame


def decode(path, data=None, ext=None):
    """Decode an audio file (or its bytes) to float32 mono 32 kHz with sox. ext names the format of `data`."""
    ext = (ext or os.path.splitext(path)[1]).lower().lstrip(".")
    fmt = {"oga": "ogg", "aif": "aiff"}.get(ext, ext)
    cmd = ["sox", "-V1", "-t", fmt, "-" if data is not None else path,
           "-t", "f32", "-e", "floating-point", "-c", "1", "-r", str(SAMPLE_RATE), "-"]
    r = subprocess.run(cmd, input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"sox could not decode {path}: {r.stderr.decode(errors='replace').strip()}")
    return np.frombuffer(r.stdout, dtype="<f4").astype(np.float32)


def frame_rms(x):
    """RMS of each 20 ms frame (the last partial frame included): (n_frames,)."""
    n = len(x)
    pad = (-n) % FRAME
    f = np.pad(x, (0, pad)).reshape(-1, FRAME).astype(np.float64)
    return np.sqrt(np.mean(f * f, axis=1) + 1e-20)


def trim_silence(x, db=50.0):
    """Drop leading/trailing frames quieter than peak frame RMS - db."""
    if len(x) == 0:
        return x
    r = frame_rms(x)
    keep = np.nonzero(r >= r.max() * 10 ** (-db / 20))[0]
    if len(keep) == 0:
        return x[:0]
    return x[keep[0] * FRAME: min(len(x), (keep[-1] + 1) * FRAME)]


def active_stats(x):
    """(active seconds, active RMS) over the frames within ACTIVE_DB of the loudest frame."""
    r = frame_rms(x)
    if r.max() <= 1e-9:
        return 0.0, 0.0
    act = r >= r.max() * 10 ** (-ACTIVE_DB / 20)
    return act.sum() * FRAME / SAMPLE_RATE, float(np.sqrt(np.mean(r[act] ** 2)))


def pcm_md5(x):
    return hashlib.md5(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


def fade(x, rng):
    """10-50 ms raised-cosine fade in and out."""
    n = min(len(x) // 2, int(rng.uniform(0.01, 0.05) * SAMPLE_RATE))
    if n > 1:
        w = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))).astype(np.float32)
        x = x.copy()
        x[:n] *= w
        x[-n:] *= w[::-1]
    return x


def _gain_curve(n, sr, lo, hi, width=200.0):
    """|H(f)| on the rfft grid of n samples: 1 inside [lo, hi] Hz with raised-cosine edges `width` Hz wide."""
    f = np.fft.rfftfreq(n, 1.0 / sr)
    g = np.ones_like(f)
    if lo > 0:
        g *= np.clip((f - (lo - width / 2)) / width, 0, 1)
    if hi < sr / 2:
        g *= np.clip(((hi + width / 2) - f) / width, 0, 1)
    return 0.5 - 0.5 * np.cos(np.pi * g)


def fast_len(n):
    """The smallest 2^a 3^b 5^c >= n (FFT lengths with large prime factors are orders of magnitude slower)."""
    best, p2 = 2 * n, 1
    while p2 < 2 * n:
        p3 = p2
        while p3 < 2 * n:
            p5 = p3
            while p5 < n:
                p5 *= 5
            best = min(best, p5)
            p3 *= 3
        p2 *= 2
    return best


def band_limit(x, lo, hi, width=200.0):
    """Zero-phase band-pass [lo, hi] Hz (lo = 0: low-pass); zero-padded, so nothing wraps around."""
    n = len(x)
    if n == 0:
        return x
    m = fast_len(n + 4096)
    y = np.fft.irfft(np.fft.rfft(x, m) * _gain_curve(m, SAMPLE_RATE, lo, hi, width), m)[:n]
    return y.astype(np.float32)


def resample(x, factor):
    """Band-limited (FFT) resampling by about `factor` (> 1: longer, lower). The FFT lengths are rounded to fast
    sizes, so the factor realised differs by < 1 %; returns (signal, realised factor)."""
    n = fast_len(len(x) + 1024)
    m = fast_len(int(round(n * factor)))
    X = np.fft.rfft(x, n)
    k = m // 2 + 1
    Y = np.zeros(k, dtype=np.complex128)
    c = min(k, len(X))
    Y[:c] = X[:c]
    y = np.fft.irfft(Y, m) * (m / n)
    return y[: int(round(len(x) * m / n))].astype(np.float32), m / n


def convolve(x, h):
    """Linear convolution truncated to len(x)."""
    n = len(x) + len(h) - 1
    nfft = fast_len(n)
    y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[: len(x)]
    return y.astype(np.float32)


def room_ir(rng, rt60):
    """A small-room impulse response: direct path + exponentially decaying noise (decay 60 dB over rt60 s)."""
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60)
    tail[: int(0.002 * SAMPLE_RATE)] = 0  # 2 ms pre-delay before the reflections
    h = np.concatenate([[1.0], 0.3 * tail / np.sqrt(np.sum(tail ** 2) + 1e-12)])
    return h.astype(np.float32)


def loop_to(x, n, rng):
    """Cyclically extend (random start, 50 ms cross-fades at the seams) or crop x to exactly n samples."""
    if len(x) >= n:
        s = int(rng.integers(0, len(x) - n + 1))
        return x[s: s + n].copy()
    xf = int(0.05 * SAMPLE_RATE)
    if len(x) <= 2 * xf:
        return np.resize(x, n).astype(np.float32)
    w = np.linspace(0, 1, xf, dtype=np.float32)
    piece = x.copy()
    out = piece.copy()
    while len(out) < n:
        out[-xf:] = out[-xf:] * w[::-1] + piece[:xf] * w
        out = np.concatenate([out, piece[xf:]])
    s = int(rng.integers(0, len(out) - n + 1))
    return out[s: s + n].copy()


def write_wav_int16(path, x, rng):
    """int16 mono WAV with TPDF dither (one LSB peak each side), written with the stdlib `wave` module."""
    d = (rng.random(len(x)) - rng.random(len(x)))
    q = np.clip(np.round(x.astype(np.float64) * 32767.0 + d), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(q.tobytes())
