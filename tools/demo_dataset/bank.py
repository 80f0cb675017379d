"""Event banks (spec/data.md 5.3 step 1): for each side ("train" sources, used by the train and seen-source
validation splits, and "eval" sources, used by the held-out split), every available source of every class and
how to draw one sound from it, with its provenance.

A source is skipped (with a message) when its package could not be had or the program that renders it is absent.
Files are deduplicated by content within a class, a held-out file whose bytes equal any train file is dropped
(leakage), and each class keeps at most CLASS_CAP files, shared evenly by its sources so that no package dominates.
Every draw is a pure function of (seed, class, side, item): renders are cached on disk (render.StemCache).
"""
import collections
import fnmatch
import glob
import hashlib
import math
import os

import numpy as np

from . import audio, rcc, render
from .catalog import AUDIO_EXTENSIONS, EXTRA_LABELS, PITCH_RANGE, licence_for

SIDE_ID = {"train": 1, "eval": 2}
CLASS_CAP = 300
BANK_SIZE = {  # generated stems per class: (train, eval)
    "phrases": (15, 5), "patterns": (15, 5), "espeak": (200, 0), "festival": (0, 60),
}
DRUM_VELOCITIES = (40, 70, 100, 127)
KIT_COMPONENTS = ("bass_drum", "snare_drum", "hi_hat", "cymbal")

# An event's sound: x (float32), prov (provenance dict), paths (label-index paths: leaf + ancestors, one list per
# labelled thing in the sound), md5s (PCM md5 of the recorded files in it, for the leakage check).
Item = collections.namedtuple("Item", "x prov paths md5s")


class Context:
    """What the sources share: seed, cache, package versions/roots, tool versions, label table."""

    def __init__(self, seed, cache_dir, packages, tools, labels):
        self.seed, self.cache_dir, self.packages, self.tools, self.labels = seed, cache_dir, packages, tools, labels
        self.stems = render.StemCache(cache_dir)
        self._memo, self._memo_bytes = collections.OrderedDict(), 0

    def rng(self, *key):
        return np.random.default_rng([self.seed, *key])

    def decoded(self, path):
        """(trimmed signal, PCM md5) of an audio file, memoised per process (LRU, 256 MB)."""
        if path in self._memo:
            self._memo.move_to_end(path)
            return self._memo[path]
        x = audio.trim_silence(audio.decode(path))
        v = (x, audio.pcm_md5(x))
        self._memo[path] = v
        self._memo_bytes += x.nbytes
        while self._memo_bytes > 256 << 20 and len(self._memo) > 1:
            _, (old, _) = self._memo.popitem(last=False)
            self._memo_bytes -= old.nbytes
        return v


def _extra_paths(cls, shown_path, labels):
    return [[labels.by_name[name]] for c, pattern, name in EXTRA_LABELS
            if c == cls["name"] and fnmatch.fnmatchcase(shown_path, pattern)]


class FileSource:
    """Recorded files of one package (installed paths, or GCompris .rcc members extracted into the cache)."""
    kind = "files"

    def __init__(self, cls, pkg, version, files):
        self.cls, self.pkg, self.version = cls, pkg, version
        self.files = files  # [(path on disk, path shown in the provenance)]

    def item(self, ctx, k):
        disk, shown = self.files[k]
        x, md5 = ctx.decoded(disk)
        prov = {"package": self.pkg, "version": self.version, "file": shown, "licence": licence_for(self.pkg, shown)}
        return Item(x, prov, [self.cls["label_indices"]] + _extra_paths(self.cls, shown, ctx.labels), [md5])

    def draw(self, ctx, rng):
        """A random file of at least 0.1 s after silence trimming and not digitally silent (peak > -60 dBFS; some
        prompt sets hold silence files), or None."""
        for _ in range(8):
            it = self.item(ctx, int(rng.integers(0, len(self.files))))
            if len(it.x) >= 0.1 * audio.SAMPLE_RATE and np.abs(it.x).max() > 1e-3:
                return it
        return None


class _BankSource:
    """A fixed bank of n generated stems, item k a pure function of (seed, class, side, k)."""

    def __init__(self, cls, side, n):
        self.cls, self.side, self.n = cls, side, n

    def draw(self, ctx, rng):
        return self.item(ctx, int(rng.integers(0, self.n)))

    def args_rng(self, ctx, k):
        return ctx.rng(self.cls["id"], SIDE_ID[self.side], self.salt, k)


class PhraseSource(_BankSource):
    """Phrases of a tonal class rendered from a soundfont (spec/data.md 5.3: 15 train / 5 held-out)."""
    kind, salt = "phrases", 1

    def __init__(self, cls, side, src, pkg, version, root):
        super().__init__(cls, side, BANK_SIZE["phrases"][side == "eval"])
        self.src, self.pkg, self.version = src, pkg, version
        self.sf2 = os.path.join(root, src["sf2"].lstrip("/"))

    def args(self, ctx, k):
        rng = self.args_rng(ctx, k)
        program = int(rng.choice(self.src["programs"]))
        notes, info = render.phrase_notes(rng, *PITCH_RANGE[self.cls["name"]])
        return program, notes, info

    def item(self, ctx, k):
        def render_all():
            slots = []
            for j in range(self.n):
                program, notes, _ = self.args(ctx, j)
                slots.append(render.notes_to_events(notes, self.src["channel"], program))
            return render.fluidsynth_slots(self.sf2, slots)
        key = f"phrases|{self.pkg}={self.version}|{ctx.tools['fluidsynth']}|{self.cls['name']}|{self.side}|{ctx.seed}"
        x = ctx.stems.get_from_bank(key, k, render_all)
        program, notes, info = self.args(ctx, k)
        prov = {"generator": "fluidsynth", "package": self.pkg, "version": self.version, "sf2": self.src["sf2"],
                "program": program, "notes": len(notes), **info, "licence": licence_for(self.pkg)}
        return Item(x, prov, [self.cls["label_indices"]], [])


class DrumNoteSource(_BankSource):
    """Single GM drum-note hits from a soundfont, at 4 velocities."""
    kind, salt = "drum_notes", 2

    def __init__(self, cls, side, src, pkg, version, root):
        self.hits = [(n, v) for n in src["gm_drum_notes"] for v in DRUM_VELOCITIES]
        super().__init__(cls, side, len(self.hits))
        self.src, self.pkg, self.version = src, pkg, version
        self.sf2 = os.path.join(root, src["sf2"].lstrip("/"))

    def item(self, ctx, k):
        ch = self.src["channel"]
        render_all = lambda: render.fluidsynth_slots(  # noqa: E731
            self.sf2, [render.notes_to_events([(0.0, 0.2, n, v)], ch, None if ch == 9 else 0) for n, v in self.hits])
        key = f"drumnotes|{self.pkg}={self.version}|{ctx.tools['fluidsynth']}|{self.cls['name']}"
        x = ctx.stems.get_from_bank(key, k, render_all)
        note, vel = self.hits[k]
        prov = {"generator": "fluidsynth", "package": self.pkg, "version": self.version, "sf2": self.src["sf2"],
                "gm_drum_note": note, "velocity": vel, "licence": licence_for(self.pkg)}
        return Item(x, prov, [self.cls["label_indices"]], [])


class KitRenderSource(_BankSource):
    """Drum-kit patterns played by a soundfont kit (GM notes on channel 10, or on channel 1 for the AVL kits)."""
    kind, salt = "patterns", 3

    def __init__(self, cls, side, src, pkg, version, root, component_paths):
        super().__init__(cls, side, BANK_SIZE["patterns"][side == "eval"])
        self.src, self.pkg, self.version = src, pkg, version
        self.sf2 = os.path.join(root, src["sf2"].lstrip("/"))
        self.component_paths = component_paths

    def args(self, ctx, k):
        rng = self.args_rng(ctx, k)
        hits, info = render.drum_pattern(rng, KIT_COMPONENTS)
        note_of = {c: int(rng.choice(render.GM_KIT_NOTES[c])) for c in KIT_COMPONENTS}
        return [(t, 0.1, note_of[c], max(1, int(v * 127))) for t, c, v in hits], sorted({c for _, c, _ in hits}), info

    def item(self, ctx, k):
        ch = self.src["channel"]

        def render_all():
            return render.fluidsynth_slots(self.sf2, [render.notes_to_events(self.args(ctx, j)[0], ch, 0)
                                                      for j in range(self.n)])
        key = f"kit|{self.pkg}={self.version}|{ctx.tools['fluidsynth']}|{self.src['sf2']}|{self.side}|{ctx.seed}"
        x = ctx.stems.get_from_bank(key, k, render_all)
        _, used, info = self.args(ctx, k)
        prov = {"generator": "fluidsynth drum pattern", "package": self.pkg, "version": self.version,
                "sf2": self.src["sf2"], "components": used, **info, "licence": licence_for(self.pkg)}
        return Item(x, prov, [self.cls["label_indices"]] + [self.component_paths[c] for c in used], [])


class KitComposeSource:
    """Drum-kit patterns built from one hydrogen kit's one-shots (spec/data.md 5.3: labels = Drum kit + the
    components actually played). parts[component] is a FileSource."""
    kind = "kit_pattern"

    def __init__(self, cls, kit, parts, component_paths):
        self.cls, self.kit, self.parts, self.component_paths = cls, kit, parts, component_paths

    def draw(self, ctx, rng):
        hits, info = render.drum_pattern(rng, set(self.parts))
        samples, provs, md5s = {}, {}, []
        for comp, src in self.parts.items():
            for _ in range(min(3, len(src.files))):  # up to 3 velocity layers / variants per component
                it = src.item(ctx, int(rng.integers(0, len(src.files))))
                samples.setdefault(comp, []).append((it.x, it.prov["file"]))
                provs[it.prov["file"]] = it.prov
                md5s += it.md5s
        x, used = render.compose_hits(hits, samples, rng)
        parts = [provs[f] for c in sorted(used) for f in used[c]]
        prov = {"generator": "drum pattern", "kit": self.kit, "components": sorted(used), **info, "parts": parts}
        return Item(x, prov, [self.cls["label_indices"]] + [self.component_paths[c] for c in sorted(used)], md5s)


class EspeakSource(_BankSource):
    kind, salt = "espeak", 4

    def __init__(self, cls, side):
        super().__init__(cls, side, BANK_SIZE["espeak"][side == "eval"])

    def item(self, ctx, k):
        args = render.espeak_args(self.args_rng(ctx, k))
        key = f"espeak|{ctx.tools['espeak-ng']}|{sorted(args.items())}"
        x = ctx.stems.get(key, lambda: render.espeak(args))
        prov = {"generator": "espeak-ng", "version": ctx.tools["espeak-ng"], **args,
                "licence": licence_for("espeak-ng")}
        return Item(x, prov, [self.cls["label_indices"]], [])


class FestivalSource(_BankSource):
    kind, salt = "festival", 5

    def __init__(self, cls, side):
        super().__init__(cls, side, BANK_SIZE["festival"][side == "eval"])

    def item(self, ctx, k):
        args = [render.festival_args(self.args_rng(ctx, j)) for j in range(self.n)]
        key = f"festival|{ctx.tools['text2wave']}|{self.side}|{ctx.seed}"
        x = ctx.stems.get_from_bank(key, k, lambda: render.festival_batch(args))
        prov = {"generator": "festival", "version": ctx.tools["text2wave"], **args[k],
                "licence": licence_for("festival")}
        return Item(x, prov, [self.cls["label_indices"]], [])


class SynthSource:
    """Exact signals (sine, chirp, noises, telephone tones, beeps), generated per event."""
    kind = "synth"

    def __init__(self, cls, side):
        self.cls, self.side = cls, side

    def generate(self, rng, seconds):
        x, args = render.synth(self.cls["name"], self.side, rng, seconds)
        prov = {"generator": "numpy (sox synth equivalent)", "signal": self.cls["name"], **args,
                "licence": "generated (no third-party content)"}
        return Item(np.asarray(x, dtype=np.float32), prov, [self.cls["label_indices"]], [])


# ---------------------------------------------------------------------------------------------- building


def _listed_files(root, src):
    pattern = os.path.join(glob.escape(root), src["glob"].lstrip("/"))
    excludes = src.get("exclude", "").split("|") if src.get("exclude") else []
    out = []
    for f in sorted(glob.glob(pattern, recursive=True)):
        shown = "/" + os.path.relpath(f, root)
        if not os.path.isfile(f) or not f.lower().endswith(AUDIO_EXTENSIONS):
            continue
        if any(fnmatch.fnmatchcase(os.path.basename(f), e) or fnmatch.fnmatchcase(shown, e) for e in excludes):
            continue
        out.append((f, shown))
    return out


def _rcc_files(ctx, pkg, version, root, src):
    """Members of a .rcc file, extracted once into <cache>/rcc/."""
    rcc_path = os.path.join(root, src["rcc"].lstrip("/"))
    if not os.path.isfile(rcc_path):
        return []
    out_dir = os.path.join(ctx.cache_dir, "rcc", f"{pkg}_{version}", os.path.basename(rcc_path))
    out = []
    for member, data in rcc.extract(rcc_path, src["member"]):
        disk = os.path.join(out_dir, member.lstrip("/"))
        if not os.path.exists(disk):
            os.makedirs(os.path.dirname(disk), exist_ok=True)
            with open(disk + ".tmp", "wb") as f:
                f.write(data)
            os.replace(disk + ".tmp", disk)
        out.append((disk, f"{src['rcc']}:{member}"))
    return out


def _md5_file(path, memo):
    if path not in memo:
        with open(path, "rb") as f:
            memo[path] = hashlib.md5(f.read()).hexdigest()
    return memo[path]


def build_banks(ctx, classes, log):
    """{"train": {class name: [source, ...]}, "eval": {...}} over the available sources."""
    by_name = {c["name"]: c for c in classes}
    component_paths = {c: by_name[c]["label_indices"] for c in KIT_COMPONENTS}
    pkgs, tools = ctx.packages, ctx.tools
    # 1. recorded files per (side, class, source index)
    listed = {}
    for c in classes:
        for side in ("train", "eval"):
            for i, src in enumerate(c[side]):
                pkg = src.get("pkg")
                if ("glob" in src or "rcc" in src) and pkg in pkgs:
                    version, root = pkgs[pkg]
                    listed[(side, c["name"], i)] = (_listed_files(root, src) if "glob" in src
                                                    else _rcc_files(ctx, pkg, version, root, src))
    # 2. duplicates within a class, and held-out files equal to a train file (only same-size files are hashed)
    size = {f: os.path.getsize(f) for fs in listed.values() for f, _ in fs}
    eval_sizes = {size[f] for (side, _, _), fs in listed.items() if side == "eval" for f, _ in fs}
    train_sizes = {size[f] for (side, _, _), fs in listed.items() if side == "train" for f, _ in fs}
    md5s = {}
    train_md5 = {_md5_file(f, md5s) for (side, _, _), fs in listed.items() if side == "train"
                 for f, _ in fs if size[f] in eval_sizes}
    dropped, seen = 0, {}
    for key in sorted(listed):
        side, name, _ = key
        kept = []
        for f, shown in listed[key]:
            same_size = seen.setdefault((side, name), {}).setdefault(size[f], [])
            if same_size and _md5_file(f, md5s) in {_md5_file(g, md5s) for g in same_size}:
                continue  # a copy of a file this class already has
            if side == "eval" and size[f] in train_sizes and _md5_file(f, md5s) in train_md5:
                dropped += 1
                continue
            same_size.append(f)
            kept.append((f, shown))
        listed[key] = kept
    if dropped:
        log(f"dropped {dropped} held-out file(s) identical to a train file")
    # 3. sources
    banks = {"train": {}, "eval": {}}
    for c in classes:
        for side in ("train", "eval"):
            out = []
            n_src = len(c[side])
            for i, src in enumerate(c[side]):
                pkg = src.get("pkg", "")
                if (side, c["name"], i) in listed:
                    files = listed[(side, c["name"], i)]
                    cap = math.ceil(CLASS_CAP / n_src)
                    if len(files) > cap:  # a seeded subset, in file order
                        pick = ctx.rng(c["id"], SIDE_ID[side], 9, i).permutation(len(files))[:cap]
                        files = [files[j] for j in sorted(pick)]
                    if files:
                        out.append(FileSource(c, pkg, pkgs[pkg][0], files))
                elif "compose" in src:
                    for kit in src["kits"]:
                        parts = {}
                        for comp in KIT_COMPONENTS:
                            for j, s in enumerate(by_name[comp][side]):
                                fs = listed.get((side, comp, j), [])
                                if f"/{kit}/" in s.get("glob", "") and fs:
                                    parts.setdefault(comp, []).extend(fs)
                        if parts:
                            hpkg = "hydrogen-drumkits"
                            out.append(KitComposeSource(c, kit, {k: FileSource(by_name[k], hpkg, pkgs[hpkg][0], v)
                                                                 for k, v in parts.items()}, component_paths))
                elif src.get("render") == "fluidsynth":
                    if "fluidsynth" not in tools or pkg not in pkgs:
                        continue
                    version, root = pkgs[pkg]
                    if "gm_drum_notes" in src:
                        out.append(DrumNoteSource(c, side, src, pkg, version, root))
                    elif c["name"] == "drum_kit":
                        out.append(KitRenderSource(c, side, src, pkg, version, root, component_paths))
                    else:
                        out.append(PhraseSource(c, side, src, pkg, version, root))
                elif src.get("render") == "espeak-ng" and "espeak-ng" in tools:
                    out.append(EspeakSource(c, side))
                elif src.get("render") == "festival" and "text2wave" in tools:
                    out.append(FestivalSource(c, side))
                elif src.get("render") == "sox":
                    out.append(SynthSource(c, side))
            if out:
                banks[side][c["name"]] = out
    return banks
