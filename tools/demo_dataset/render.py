"""Generated stems: soundfont phrases, drum hits and drum patterns (fluidsynth), speech (espeak-ng, festival) and
exact signals (numpy, seeded: the sox `synth` signals of the catalog, with noise that differs per event).

Renders are cached under <cache>/stems/ keyed by everything that determines them (tool and package versions,
parameters), so a warm run does not call the renderers again. Legend: n = samples.
"""
import fcntl
import hashlib
import os
import struct
import subprocess
import tempfile

import numpy as np

from . import audio
from .catalog import SAMPLE_RATE

# ---------------------------------------------------------------------------------------------- stem cache


class StemCache:
    def __init__(self, cache_dir):
        self.dir = os.path.join(cache_dir, "stems")
        os.makedirs(self.dir, exist_ok=True)

    def _path(self, key):
        return os.path.join(self.dir, hashlib.sha1(key.encode()).hexdigest() + ".npy")

    def _store(self, key, x):
        fd, tmp = tempfile.mkstemp(dir=self.dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(x, dtype=np.float32))
        os.replace(tmp, self._path(key))  # atomic: parallel workers never see half a file

    def get(self, key, produce):
        """produce() -> float32 array, computed once per key."""
        path = self._path(key)
        if not os.path.exists(path):
            self._store(key, produce())
        return np.load(path)

    def get_from_bank(self, key, j, render_all):
        """Stem j of a bank that render_all() -> [array, ...] renders in one go (once, under a lock)."""
        path = self._path(f"{key}#{j}")
        if not os.path.exists(path):
            with open(self._path(key) + ".lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not os.path.exists(path):
                    for k, x in enumerate(render_all()):
                        self._store(f"{key}#{k}", x)
        return np.load(path)


# ---------------------------------------------------------------------------------------------- MIDI + fluidsynth

_TICKS_PER_SECOND = 960  # 480 ticks per beat at the default 120 bpm


def _varlen(v):
    out = [v & 0x7F]
    v >>= 7
    while v:
        out.append(0x80 | (v & 0x7F))
        v >>= 7
    return bytes(reversed(out))


def midi_file(events):
    """A format-0 Standard MIDI File from [(seconds, status, data1, data2)] (channel messages)."""
    track, now = bytearray(), 0
    for t, status, d1, d2 in sorted(events, key=lambda e: (e[0], e[1] & 0xF0 != 0xC0, e[1] & 0xF0 == 0x90)):
        tick = int(round(t * _TICKS_PER_SECOND))
        track += _varlen(tick - now) + bytes([status, d1]) + (b"" if status & 0xF0 == 0xC0 else bytes([d2]))
        now = tick
    track += b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def notes_to_events(notes, channel, program=None):
    """[(onset s, duration s, pitch, velocity)] -> MIDI events (with a program change first when given)."""
    ev = [] if program is None else [(0.0, 0xC0 | channel, program, 0)]
    for on, dur, pitch, vel in notes:
        ev.append((on, 0x90 | channel, int(pitch), int(vel)))
        ev.append((on + dur, 0x80 | channel, int(pitch), 0))
    return ev


def fluidsynth_slots(sf2, slots, tail=2.5):
    """Render several stems in one fluidsynth run (loading a soundfont costs more than rendering a phrase).

    slots: [[(seconds, status, d1, d2)], ...] with times relative to the slot. Each slot gets `tail` seconds of
    release, then All Sound Off (CC 120) on every channel so nothing rings into the next slot. Reverb/chorus are
    off (dry, label-clean stems); dynamic sample loading reads only the samples that are played.
    Returns one silence-trimmed float32 array per slot."""
    events, bounds, t0 = [], [], 0.0
    for slot in slots:
        end = t0 + max(t for t, *_ in slot) + tail
        events += [(t0 + t, st, d1, d2) for t, st, d1, d2 in slot]
        events += [(end, 0xB0 | ch, 120, 0) for ch in range(16)]
        bounds.append((t0, end))
        t0 = end + 0.05
    with tempfile.TemporaryDirectory() as d:
        mid, wav = os.path.join(d, "x.mid"), os.path.join(d, "x.wav")
        with open(mid, "wb") as f:
            f.write(midi_file(events))
        r = subprocess.run(["fluidsynth", "-ni", "-q", "-R", "0", "-C", "0", "-g", "0.5",
                            "-o", "synth.dynamic-sample-loading=1", "-r", str(SAMPLE_RATE),
                            "-T", "wav", "-O", "float", "-F", wav, sf2, mid], capture_output=True)
        if r.returncode != 0 or not os.path.exists(wav):
            raise RuntimeError(f"fluidsynth failed on {sf2}: {r.stderr.decode(errors='replace').strip()}")
        x = audio.decode(wav)
    return [audio.trim_silence(x[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)]) for a, b in bounds]


_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10), "pentatonic": (0, 2, 4, 7, 9),
           "dorian": (0, 2, 3, 5, 7, 9, 10)}


def phrase_notes(rng, lo, hi):
    """A random 3-8 s phrase inside MIDI pitches [lo, hi]: scale run, arpeggio, chords or a melody."""
    style = ["scale", "arpeggio", "chords", "melody"][int(rng.integers(0, 4))]
    scale = list(_SCALES)[int(rng.integers(0, len(_SCALES)))]
    steps = _SCALES[scale]
    root = int(rng.integers(0, 12))
    pitches = [p for p in range(lo, hi + 1) if (p - root) % 12 in steps]
    length, step = rng.uniform(3.0, 8.0), rng.uniform(0.15, 0.6)
    notes, t, i = [], 0.0, int(rng.integers(0, max(1, len(pitches) - 8)))
    direction = 1
    while t < length:
        vel = int(rng.integers(50, 116))
        if style == "chords":
            base = int(rng.integers(0, max(1, len(pitches) - 5)))
            dur = step * int(rng.integers(2, 5))
            for k in (0, 2, 4):
                if base + k < len(pitches):
                    notes.append((t, dur * 0.95, pitches[base + k], vel))
            t += dur
            continue
        if style == "melody":
            i = int(np.clip(i + int(rng.integers(-3, 4)), 0, len(pitches) - 1))
            dur = step * float(rng.choice([0.5, 1, 1, 2]))
        else:
            jump = 2 if style == "arpeggio" else 1
            if not 0 <= i + direction * jump < len(pitches):
                direction = -direction
            i = int(np.clip(i + direction * jump, 0, len(pitches) - 1))
            dur = step
        notes.append((t, dur * 0.9, pitches[i], vel))
        t += dur
    return notes, {"style": style, "scale": scale, "root": root, "step_s": round(step, 3)}


# GM drum notes of the drum-kit components (kick, snare, hi-hat, cymbal), for soundfont-rendered patterns.
GM_KIT_NOTES = {"bass_drum": (35, 36), "snare_drum": (38, 40), "hi_hat": (42, 44, 46), "cymbal": (49, 51, 57)}


def drum_pattern(rng, components):
    """A 4-8.5 s drum pattern: [(seconds, component, velocity 0-1)], 16th grid, bpm 70-160, swing and fills.

    components: the components the kit has (subset of bass_drum, snare_drum, hi_hat, cymbal)."""
    bpm = rng.uniform(70, 160)
    sixteenth = 60.0 / bpm / 4
    swing = rng.uniform(0, 0.3) * sixteenth
    bars = max(1, int(rng.uniform(4, 8.5) / (16 * sixteenth)))  # + release tail, within the 10 s clip
    hat_every = int(rng.choice([1, 2, 2]))
    hits = []
    for bar in range(bars):
        fill = bar == bars - 1 and rng.random() < 0.4
        for s in range(16):
            t = (bar * 16 + s) * sixteenth + (swing if s % 2 else 0.0)
            if "bass_drum" in components and (s in (0, 8) or (s in (6, 10, 14) and rng.random() < 0.3)):
                hits.append((t, "bass_drum", rng.uniform(0.7, 1.0)))
            if "snare_drum" in components and (s in (4, 12) or (fill and s >= 12) or (s % 2 and rng.random() < 0.06)):
                hits.append((t, "snare_drum", rng.uniform(0.6, 1.0) if s in (4, 12) else rng.uniform(0.3, 0.7)))
            if "hi_hat" in components and s % hat_every == 0 and not (fill and s >= 12):
                hits.append((t, "hi_hat", rng.uniform(0.4, 0.8) * (1.0 if s % 4 == 0 else 0.8)))
            if "cymbal" in components and s == 0 and (bar == 0 or rng.random() < 0.25):
                hits.append((t, "cymbal", rng.uniform(0.6, 1.0)))
    if not hits and components:
        hits.append((0.0, sorted(components)[0], 0.8))
    return hits, {"bpm": round(bpm, 1), "bars": bars, "swing": round(swing / sixteenth, 2)}


def compose_hits(hits, samples_of, rng, length_extra=1.5):
    """Mix one-shots at hit times: samples_of[component] = [(array, provenance)]; returns (signal, files used)."""
    end = max(t for t, _, _ in hits) + length_extra
    out = np.zeros(int(end * SAMPLE_RATE) + 1, dtype=np.float32)
    used = {}
    choice = {c: int(rng.integers(0, len(v))) for c, v in samples_of.items()}  # one sample per component...
    for t, comp, vel in hits:
        bank = samples_of[comp]
        k = choice[comp] if rng.random() < 0.7 else int(rng.integers(0, len(bank)))  # ...with some variation
        x, prov = bank[k]
        s = int(t * SAMPLE_RATE)
        seg = x[: len(out) - s]
        out[s: s + len(seg)] += seg * vel
        used.setdefault(comp, set()).add(prov)
    return out, {c: sorted(v) for c, v in used.items()}


# ---------------------------------------------------------------------------------------------- speech

ESPEAK_VOICES = ("en-us", "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "sv", "cs", "fi", "hu", "el", "tr")
# Variants without "breath": espeak-ng 1.51 draws breath noise from the C library's rand(), whose sequence depends
# on what else in the process called it (seen once as a different render of the same utterance).
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f4")
FESTIVAL_VOICES = ("voice_kal_diphone", "voice_cmu_us_slt_arctic_hts")
_WORDS = ("the quick brown fox jumps over a lazy dog while seven small birds sing near the old river bank and "
          "children count apples under green trees before rain starts in the quiet evening light").split()


def sentence(rng):
    """A few words from a small word list, sometimes with a number."""
    words = [_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), int(rng.integers(4, 12)))]
    if rng.random() < 0.5:
        words.insert(int(rng.integers(0, len(words))), str(int(rng.integers(1, 10000))))
    return " ".join(words)


def espeak_args(rng):
    voice = f"{ESPEAK_VOICES[int(rng.integers(0, len(ESPEAK_VOICES)))]}+" \
            f"{ESPEAK_VARIANTS[int(rng.integers(0, len(ESPEAK_VARIANTS)))]}"
    return {"voice": voice, "speed": int(rng.integers(120, 201)), "pitch": int(rng.integers(20, 81)),
            "text": sentence(rng)}


def espeak(args):
    with tempfile.TemporaryDirectory() as d:
        wav = os.path.join(d, "x.wav")
        subprocess.run(["espeak-ng", "-v", args["voice"], "-s", str(args["speed"]), "-p", str(args["pitch"]),
                        "-w", wav, args["text"]], check=True, capture_output=True)
        return audio.trim_silence(audio.decode(wav))


def festival_args(rng):
    return {"voice": FESTIVAL_VOICES[int(rng.integers(0, len(FESTIVAL_VOICES)))],
            "duration_stretch": round(float(rng.uniform(0.85, 1.2)), 2), "text": sentence(rng)}


def festival_batch(args_list):
    """Synthesise utterances in one festival process (its start-up costs more than an utterance)."""
    with tempfile.TemporaryDirectory() as d:
        script = []
        for k, a in enumerate(args_list):
            text = a["text"].replace('"', "")
            script += [f"({a['voice']})", f"(Parameter.set 'Duration_Stretch {a['duration_stretch']})",
                       f'(utt.save.wave (utt.synth (Utterance Text "{text}")) "{d}/{k}.wav" \'riff)']
        with open(os.path.join(d, "x.scm"), "w") as f:
            f.write("\n".join(script) + "\n")
        subprocess.run(["festival", "-b", os.path.join(d, "x.scm")], check=True, capture_output=True)
        return [audio.trim_silence(audio.decode(os.path.join(d, f"{k}.wav"))) for k in range(len(args_list))]


# ---------------------------------------------------------------------------------------------- exact signals


def _in_side_band(f, side):
    """Train and held-out use interleaved, disjoint frequency bands: the fractional octave of f/100 Hz is in
    [0, 0.5) for train and [0.5, 1) for eval."""
    frac = np.log2(f / 100.0) % 1.0
    return (frac < 0.5) == (side == "train")


def _side_freq(rng, side, lo, hi):
    while True:
        f = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        if _in_side_band(f, side):
            return f


def _tone(freqs, n, phase_rng):
    t = np.arange(n) / SAMPLE_RATE
    return sum(np.sin(2 * np.pi * f * t + phase_rng.uniform(0, 2 * np.pi)) for f in freqs) / len(freqs)


def _gate(x, on, off):
    """On/off cadence (seconds)."""
    t = np.arange(len(x)) / SAMPLE_RATE
    return x * ((t % (on + off)) < on)


def synth(name, side, rng, seconds):
    """The catalog's sox-generated classes (spec/data.md 6), as numpy signals of `seconds` (float32)."""
    n = int(seconds * SAMPLE_RATE)
    if name == "sine":
        f = _side_freq(rng, side, 100, 4000)
        return _tone([f], n, rng), {"freq_hz": round(f, 1)}
    if name == "chirp_tone":
        f1, f2 = _side_freq(rng, side, 100, 4000), _side_freq(rng, side, 100, 4000)
        t = np.arange(n) / SAMPLE_RATE
        k = np.log(f2 / f1) / max(t[-1], 1e-3)  # exponential sweep f1 -> f2
        x = np.sin(2 * np.pi * f1 * (np.exp(k * t) - 1) / k) if abs(k) > 1e-9 else np.sin(2 * np.pi * f1 * t)
        return x, {"f1_hz": round(f1, 1), "f2_hz": round(f2, 1)}
    if name == "white_noise":
        return rng.uniform(-1, 1, n), {}
    if name == "pink_noise":
        spec = (rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1))
        f = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        spec /= np.sqrt(np.maximum(f, 20.0))  # 1/f power
        x = np.fft.irfft(spec, n)
        return x * (0.3 / np.sqrt(np.mean(x ** 2))), {}
    if name == "dial_tone":  # NANP 350+440 Hz (train) / UK 350+450 Hz (eval), continuous
        freqs = (350, 440) if side == "train" else (350, 450)
        return _tone(freqs, n, rng), {"freqs_hz": freqs}
    if name == "busy_signal":  # NANP 480+620 Hz 0.5/0.5 s (train) / 425 Hz 0.375/0.375 s (eval)
        freqs, cad = ((480, 620), 0.5) if side == "train" else ((425,), 0.375)
        return _gate(_tone(freqs, n, rng), cad, cad), {"freqs_hz": freqs, "cadence_s": cad}
    if name == "beep":  # one 0.05-0.3 s beep at 1-3 kHz; the mixer repeats it
        f = _side_freq(rng, side, 1000, 3000)
        m = int(rng.uniform(0.05, 0.3) * SAMPLE_RATE)
        return _tone([f], m, rng), {"freq_hz": round(f, 1), "beep_s": round(m / SAMPLE_RATE, 3)}
    raise KeyError(name)
