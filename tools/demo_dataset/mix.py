"""One 10 s clip (spec/data.md 5.3 steps 2-7): choose K event classes, build each event's track, harmonise
bandwidth, place and level the events, keep only honest labels, and finish the clip (level, peak, dither).

Every random choice comes from np.random.default_rng([seed, SPLIT_ID, clip index, attempt]), so a clip depends on
nothing but the seed, its split and its index (clips can be made in any order, by any number of processes).
Legend: N = samples per clip (320,000), n = samples of one event.
"""
import math

import numpy as np

from . import audio, bank, render
from .catalog import BACKGROUND, CLIP_SECONDS, DRUM_PATTERN, REPEATS, SAMPLE_RATE, SPEECH

SPLIT_ID = {"train": 1, "eval": 2, "val": 3}
SIDE_OF = {"train": "train", "val": "train", "eval": "eval"}
N = int(CLIP_SECONDS * SAMPLE_RATE)
K_PROBS = (0.35, 0.40, 0.25)  # 1, 2 or 3 events per clip


def class_schedule(seed, split, names, n):
    """The first class of each clip: successive random permutations of the split's classes, so every class
    leads about equally many clips (balanced sampling, like AudioSet's balanced set)."""
    rng = np.random.default_rng([seed, SPLIT_ID[split], 0x5C4ED])
    order = []
    while len(order) < n:
        order += [names[i] for i in rng.permutation(len(names))]
    return order[:n]


def choose_classes(rng, first, names):
    """K distinct classes: `first` plus uniform picks, at most one drum pattern and one background class."""
    k = int(rng.choice(3, p=K_PROBS)) + 1
    chosen = [first]
    for name in (names[i] for i in rng.permutation(len(names))):
        if len(chosen) == k:
            break
        if name in chosen or (name in DRUM_PATTERN and DRUM_PATTERN & set(chosen)) or \
                (name in BACKGROUND and BACKGROUND & set(chosen)):
            continue
        chosen.append(name)
    return chosen


# ---------------------------------------------------------------------------------------------- event tracks


def _sec(n):
    return round(n / SAMPLE_RATE, 3)


def _sequence(pieces, gaps):
    """Concatenate pieces with silent gaps (seconds) between them."""
    out = []
    for i, p in enumerate(pieces):
        if i:
            out.append(np.zeros(int(gaps[i - 1] * SAMPLE_RATE), dtype=np.float32))
        out.append(p)
    return np.concatenate(out)


def _repeat(rng, x, name):
    """A short one-shot repeated 1-6 times (REPEATS overrides) with U(0.1, 1.5) s gaps, at least 0.6 s active."""
    lo, hi = REPEATS.get(name, (1, 6))
    active, _ = audio.active_stats(x)
    n = max(int(rng.integers(lo, hi + 1)), math.ceil(0.6 / max(active, 0.01)))
    gaps = rng.uniform(0.1, 1.5, n)
    if name in ("clapping", "finger_snapping"):
        gaps = rng.uniform(0.15, 0.6, n)
    count, total = 0, 0.0
    while count < n and total + len(x) / SAMPLE_RATE <= CLIP_SECONDS:
        total += len(x) / SAMPLE_RATE + gaps[count]
        count += 1
    count = max(count, 1)
    return _sequence([x] * count, gaps), {"repeats": count}


def _typing(ctx, src, rng):
    """Bursts of key-down/key-up pairs of one keyboard (bucklespring files <keycode>-0/-1.wav)."""
    keys = {}
    for k, (_, shown) in enumerate(src.files):
        code, _, updown = shown.rsplit("/", 1)[-1].rpartition(".")[0].partition("-")
        keys.setdefault(code, {})[updown] = k
    codes = sorted(c for c, v in keys.items() if {"0", "1"} <= set(v))
    events, t, items = [], 0.0, {}
    for _ in range(int(rng.integers(1, 4))):
        for _ in range(int(rng.integers(4, 16))):
            code = codes[int(rng.integers(0, len(codes)))]
            for updown, dt in (("0", 0.0), ("1", rng.uniform(0.04, 0.12))):
                k = keys[code][updown]
                items.setdefault(k, src.item(ctx, k))
                events.append((t + dt, k))
            t += rng.uniform(0.08, 0.25)
        t += rng.uniform(0.3, 1.0)
        if t > 7.0:
            break
    out = np.zeros(int((t + 0.5) * SAMPLE_RATE), dtype=np.float32)
    for on, k in events:
        x = items[k].x
        s = int(on * SAMPLE_RATE)
        seg = x[: len(out) - s]
        out[s: s + len(seg)] += seg
    its = [items[k] for k in sorted(items)]
    return out, its, {"keys": len(events) // 2}


def _machine(ctx, src, rng):
    """A drum-machine pattern from up to 4 sounds of one synthesised kit (each sound plays one kit role)."""
    picks = sorted(set(int(k) for k in rng.integers(0, len(src.files), 4)))
    its = [src.item(ctx, k) for k in picks]
    roles = bank.KIT_COMPONENTS[: len(its)]
    hits, info = render.drum_pattern(rng, set(roles))
    x, _ = render.compose_hits(hits, {r: [(it.x, it.prov["file"])] for r, it in zip(roles, its)}, rng)
    return x, its, info


def build_event(ctx, name, sources, rng):
    """(track, [Item], label paths, construction) for one event of class `name`, or None."""
    src = sources[int(rng.integers(0, len(sources)))]
    if isinstance(src, bank.SynthSource):
        if name in BACKGROUND:
            it = src.generate(rng, CLIP_SECONDS)
            return it.x, [it], it.paths, {"background": True}
        if name == "beep":
            it = src.generate(rng, 0)
            x, info = _repeat(rng, it.x, name)
            return x, [it], it.paths, info
        it = src.generate(rng, rng.uniform(2.0, CLIP_SECONDS))
        return it.x, [it], it.paths, {}
    if name == "typing":
        x, its, info = _typing(ctx, src, rng)
        return x, its, its[0].paths, info
    if name == "drum_machine" and isinstance(src, bank.FileSource):
        x, its, info = _machine(ctx, src, rng)
        return x, its, its[0].paths, info
    it = src.draw(ctx, rng)
    if it is None:
        return None
    x, its = it.x, [it]
    info = {k: v for k, v in it.prov.items() if k != "parts"} if "parts" in it.prov else {}
    if name in BACKGROUND:
        return audio.loop_to(x, N, rng), its, it.paths, {"background": True, "source_s": _sec(len(x))}
    if name in SPEECH and isinstance(src, bank.FileSource) and len(x) < 2 * SAMPLE_RATE:
        target = rng.uniform(2.0, 6.0)  # several utterances of the same source (speaker)
        while sum(len(i.x) for i in its) < target * SAMPLE_RATE and len(its) < 6:
            more = src.draw(ctx, rng)
            if more is None:
                break
            its.append(more)
        x = _sequence([i.x for i in its], rng.uniform(0.15, 0.6, len(its)))
        info = {"utterances": len(its)}
    if len(x) >= 3 * SAMPLE_RATE and name not in DRUM_PATTERN:  # a pattern stays whole (labels name its parts)
        n = int(rng.uniform(2.0, min(CLIP_SECONDS, len(x) / SAMPLE_RATE)) * SAMPLE_RATE)
        s = int(rng.integers(0, len(x) - n + 1))
        x, info = x[s: s + n], dict(info, crop_s=[_sec(s), _sec(s + n)])
    elif len(x) < 2 * SAMPLE_RATE:
        x, rep = _repeat(rng, x, name)
        info.update(rep)
    paths = [p for i in its for p in i.paths]
    return x, its, paths, info


# ---------------------------------------------------------------------------------------------- the clip


def _db(v):
    return 20 * math.log10(max(v, 1e-12))


def _labels(paths, label_mode):
    """Class indices of label paths (leaf + ancestors); "leaf+parent" keeps the last two of each path."""
    return sorted({i for p in paths for i in (p[-2:] if label_mode == "leaf+parent" else p)})


def make_clip(ctx, banks, split, index, label_mode, attempt=0):
    """(int16-ready float32 signal (N,), clip metadata, dither rng); retries with a new attempt number when no
    event survives the label rule."""
    side = SIDE_OF[split]
    names = sorted(banks[side], key=lambda c: ctx.class_id[c])
    first = class_schedule(ctx.seed, split, names, index + 1)[index]
    rng = np.random.default_rng([ctx.seed, SPLIT_ID[split], index, attempt])
    if attempt >= 5:  # the scheduled class keeps failing (e.g. only near-silent files): let others lead
        first = names[int(rng.integers(0, len(names)))]
    chosen = choose_classes(rng, first, names)
    telephone = bool(rng.random() < 0.2)
    rt60 = float(rng.uniform(0.15, 0.5)) if rng.random() < 0.3 else None
    ir = audio.room_ir(rng, rt60) if rt60 else None
    events, dropped = [], []
    for name in chosen:
        ev = build_event(ctx, name, banks[side][name], rng)
        if ev is None:
            dropped.append({"class": name, "reason": "no usable source file"})
            continue
        x, its, paths, info = ev
        aug = {}
        background = name in BACKGROUND
        if name not in SPEECH and not background and "signal" not in its[0].prov and rng.random() < 0.3:
            # recorded and rendered foreground sounds only: exact signals keep their frequencies, backgrounds
            # their full 10 s
            x, factor = audio.resample(x, 1.0 / rng.uniform(0.9, 1.1))
            aug["speed"] = round(1.0 / factor, 3)
        if rng.random() < 0.3:
            aug["lowpass_hz"] = round(float(rng.uniform(3500, 14000)))
            x = audio.band_limit(x, 0, aug["lowpass_hz"])
        if not background:
            x = audio.fade(x[:N], rng)
            pad = np.zeros(int(0.05 * SAMPLE_RATE), dtype=np.float32)
            x = np.concatenate([pad, x, pad, np.zeros(int((rt60 or 0) * SAMPLE_RATE / 2), dtype=np.float32)])
        if telephone:  # linear, so filtering each event equals filtering the mix; levels are measured after it
            x = audio.band_limit(x, 300, 3400)
        if ir is not None:
            x = audio.convolve(x, ir)
        x = x[:N]
        active_s, active_rms = audio.active_stats(x)
        target = rng.uniform(-36, -22) if background else rng.uniform(-32, -14)
        onset = 0 if background else int(rng.integers(0, N - len(x) + 1))
        events.append({"name": name, "x": x / max(active_rms, 1e-9), "onset": onset, "target": target,
                       "active_s": active_s, "items": its, "paths": paths, "info": info, "aug": aug,
                       "background": background})
    # a background stays at least 3 dB below the quietest foreground event, so that it cannot mask a labelled
    # sound (a stricter version of the 20 dB rule below, which then only concerns the foreground events)
    fg = [e["target"] for e in events if not e["background"]]
    for e in events:
        if e["background"] and fg:
            e["target"] = min(e["target"], min(fg) - 3.0)
        e["x"] = e["x"] * 10 ** (e["target"] / 20)
    loudest = max((e["target"] for e in events), default=0.0)
    kept = []
    for e in events:
        if e["active_s"] < 0.5:
            dropped.append({"class": e["name"], "reason": f"active {e['active_s']:.2f} s < 0.5 s"})
        elif e["target"] < loudest - 20:
            dropped.append({"class": e["name"], "reason": f"{loudest - e['target']:.1f} dB below the loudest event"})
        else:
            kept.append(e)
    if not kept:
        if attempt >= 20:
            raise RuntimeError(f"{split} clip {index}: no event survived the label rule in 20 attempts")
        return make_clip(ctx, banks, split, index, label_mode, attempt + 1)
    mix = np.zeros(N, dtype=np.float64)
    for e in kept:
        mix[e["onset"]: e["onset"] + len(e["x"])] += e["x"]
    level = rng.uniform(-30, -18)
    scale = 10 ** (level / 20) / max(np.sqrt(np.mean(mix ** 2)), 1e-12)
    peak = np.abs(mix).max() * scale
    if peak > 10 ** (-1 / 20):
        scale *= 10 ** (-1 / 20) / peak
    mix *= scale
    meta = {
        "labels": _labels([p for e in kept for p in e["paths"]], label_mode),
        "events": [{
            "class": e["name"],
            "labels": _labels(e["paths"], label_mode),
            "onset_s": _sec(e["onset"]), "duration_s": _sec(len(e["x"])), "active_s": round(e["active_s"], 2),
            "level_dbfs": round(e["target"] + _db(scale), 1), "construction": e["info"], "augment": e["aug"],
            "sources": [s for it in e["items"] for s in it.prov.get("parts", [it.prov])],
            "md5s": sorted({m for it in e["items"] for m in it.md5s}),
        } for e in kept],
        "dropped_events": dropped,
        "clip": {"telephone_band": telephone, "reverb_rt60_s": round(rt60, 3) if rt60 else None,
                 "rms_dbfs": round(_db(np.sqrt(np.mean(mix ** 2))), 2), "peak_dbfs": round(_db(np.abs(mix).max()), 2),
                 "attempt": attempt},
    }
    return mix.astype(np.float32), meta, rng
