"""`make_demo_dataset --self-check`: build the tiny set and verify what the engine and the spec rely on.

1. formats: per split, segments.csv in the official layout (3 comment lines with correct counts, PANNs-style
   parsing `line.split(', ')`, quoted MID lists, MIDs from class_labels_indices.csv), 11-character YTIDs unique
   over all splits, audio/Y<YTID>.wav for every row (mono, 32 kHz, int16, 10 s, not silent, peak <= -1 dBFS);
2. labels: meta.jsonl matches segments.csv row by row; a clip's labels are the union of its events' labels; every
   event names its sources (package + version + file + licence, or a generator);
3. splits: the held-out split uses no train source (no shared package file, no shared PCM md5, no shared
   generator), its classes are train classes; the seen-source validation split uses train sources only;
4. determinism: a second build (warm cache, one worker) is byte-identical; another seed gives other audio;
5. the checker itself: a copy with one label changed must fail check 2.
Exit status 0 when everything passes.
"""
import filecmp
import json
import os
import re
import shutil
import tempfile
import wave

import numpy as np

from . import build, catalog

_HEADER = [re.compile(r"# Segments csv created \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$"),
           re.compile(r"# num_ytids=(\d+), num_segs=(\d+), num_unique_labels=(\d+), num_positive_labels=(\d+)$"),
           re.compile(r"# YTID, start_seconds, end_seconds, positive_labels$")]
_YTID = re.compile(r"[A-Za-z0-9_-]{11}$")


class Checker:
    def __init__(self):
        self.failures, self.checks = [], 0

    def expect(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures.append(what)
        return cond


def _read_segments(path, ck, mids):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    ck.expect(lines[-1] == "", f"{path}: no final newline")
    lines = lines[:-1]
    for i, rx in enumerate(_HEADER):
        ck.expect(len(lines) > i and rx.match(lines[i]), f"{path}:{i + 1}: header line {lines[i:i + 1]} "
                                                         "is not in the official format")
    rows = []
    for n, line in enumerate(lines[3:], start=4):
        items = line.split(", ")  # exactly how PANNs' read_metadata splits a row
        if not ck.expect(len(items) == 4 and items[3].startswith('"') and items[3].endswith('"'),
                         f"{path}:{n}: not `YTID, start, end, \"mid,...\"`"):
            continue
        labels = items[3].split('"')[1].split(",")
        ck.expect(_YTID.match(items[0]), f"{path}:{n}: YTID {items[0]!r} is not 11 YouTube-id characters")
        ck.expect(items[1:3] == ["0.000", "10.000"], f"{path}:{n}: segment is not 0.000-10.000")
        ck.expect(all(m in mids for m in labels), f"{path}:{n}: unknown MID in {labels}")
        ck.expect(len(set(labels)) == len(labels) > 0, f"{path}:{n}: empty or repeated labels")
        rows.append((items[0], labels))
    m = _HEADER[1].match(lines[1]) if len(lines) > 1 else None
    if ck.expect(m is not None, f"{path}: no counts line"):
        counts = tuple(int(g) for g in m.groups())
        want = (len(rows), len(rows), len({x for _, ls in rows for x in ls}), sum(len(ls) for _, ls in rows))
        ck.expect(counts == want, f"{path}: header counts {counts} != {want}")
    return rows


def _check_wav(path, ck):
    if not ck.expect(os.path.exists(path), f"{path}: missing"):
        return
    with wave.open(path, "rb") as w:
        fmt = (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes())
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768
    ck.expect(fmt == (1, 32000, 2, 320000), f"{path}: (channels, rate, bytes, frames) = {fmt}")
    rms = 20 * np.log10(np.sqrt(np.mean(x ** 2)) + 1e-12)
    peak = 20 * np.log10(np.abs(x).max() + 1e-12)
    ck.expect(-60 < rms <= -17.9, f"{path}: RMS {rms:.1f} dBFS outside (-60, -18]")
    ck.expect(peak <= -0.99, f"{path}: peak {peak:.2f} dBFS above -1 dBFS")


def _source_keys(ev):
    """What identifies an event's sources for the disjointness check."""
    keys = set()
    for s in ev["sources"]:
        if "file" in s:
            keys.add(("file", s["package"], s["file"]))
        elif "sf2" in s:
            keys.add(("soundfont", s["package"]))
        elif s["generator"] in ("espeak-ng", "festival"):
            keys.add(("generator", s["generator"]))
    return keys


def validate(out, ck):
    """Checks 1-3 on a built dataset folder."""
    labels = catalog.ClassLabels(os.path.join(out, "class_labels_indices.csv"))
    mids = set(labels.mids)
    all_ids, keys, md5s, classes = set(), {}, {}, {}
    for split in build.SPLITS:
        d = os.path.join(out, split)
        rows = _read_segments(os.path.join(d, "segments.csv"), ck, mids)
        with open(os.path.join(d, "meta.jsonl"), encoding="utf-8") as f:
            metas = [json.loads(line) for line in f]
        ck.expect(len(metas) == len(rows) > 0, f"{split}: {len(metas)} meta lines for {len(rows)} CSV rows")
        keys[split], md5s[split], classes[split] = set(), set(), set()
        for (yid, mid_list), meta in zip(rows, metas):
            ck.expect(yid not in all_ids, f"{split}: YTID {yid} repeated")
            all_ids.add(yid)
            _check_wav(os.path.join(d, "audio", f"Y{yid}.wav"), ck)
            ck.expect(meta["ytid"] == yid and meta["file"] == f"audio/Y{yid}.wav", f"{split}/{yid}: meta order/file")
            ck.expect(sorted(meta["labels"]) == sorted(mid_list), f"{split}/{yid}: meta labels != CSV labels")
            ck.expect([labels.mids[i] for i in meta["label_indices"]] == meta["labels"],
                      f"{split}/{yid}: label_indices do not match labels")
            union = sorted({i for ev in meta["events"] for i in ev["labels"]})
            ck.expect(union == sorted(meta["label_indices"]), f"{split}/{yid}: labels != union of event labels")
            ck.expect(1 <= len(meta["events"]) <= 3, f"{split}/{yid}: {len(meta['events'])} events")
            for ev in meta["events"]:
                ck.expect(0 <= ev["onset_s"] and ev["onset_s"] + ev["duration_s"] <= 10.0005,
                          f"{split}/{yid}: event {ev['class']} outside the clip")
                ck.expect(ev["active_s"] >= 0.5, f"{split}/{yid}: event {ev['class']} active < 0.5 s")
                ck.expect(ev["sources"] and all(("package" in s and "version" in s and "licence" in s)
                                                or "generator" in s for s in ev["sources"]),
                          f"{split}/{yid}: event {ev['class']} without provenance")
                keys[split] |= _source_keys(ev)
                md5s[split] |= set(ev["md5s"])
                classes[split].add(ev["class"])
    ck.expect(not keys["eval"] & (keys["train"] | keys["val"]),
              f"held-out shares sources with train/val: {sorted(keys['eval'] & (keys['train'] | keys['val']))[:5]}")
    ck.expect(not md5s["eval"] & (md5s["train"] | md5s["val"]), "held-out shares recordings (PCM md5) with train")
    with open(os.path.join(out, "manifest.json")) as f:
        manifest = json.load(f)
    train_classes = {c for c, v in manifest["classes"].items() if v["train"]}
    ck.expect(classes["eval"] <= train_classes, f"held-out classes not in train: {classes['eval'] - train_classes}")
    ck.expect(classes["val"] <= train_classes, "val uses classes without train sources")


def _same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    (_, mismatch, errors) = filecmp.cmpfiles(a, b, cmp.common_files, shallow=False)
    return not mismatch and not errors and all(_same_tree(os.path.join(a, s), os.path.join(b, s))
                                               for s in cmp.common_dirs)


def run(args):
    ck = Checker()
    tmp = tempfile.mkdtemp(prefix="demo_dataset_check_")
    try:
        def make(name, seed, jobs):
            a = type(args)(**vars(args))
            a.out, a.tiny, a.seed, a.jobs, a.force, a.extended = os.path.join(tmp, name), True, seed, jobs, False, False
            return build.build(a)
        first = make("a", args.seed, args.jobs)
        validate(first, ck)
        n_format = ck.checks
        second = make("b", args.seed, 1)
        ck.expect(_same_tree(first, second), "a second build (warm cache, --jobs 1) is not byte-identical")
        other = make("c", args.seed + 1, args.jobs)
        ck.expect(not filecmp.cmp(os.path.join(first, "train", "audio", f"Y{build.ytid('train', 0)}.wav"),
                                  os.path.join(other, "train", "audio", f"Y{build.ytid('train', 0)}.wav"),
                                  shallow=False), "another seed gives the same audio")
        # the checker must catch a wrong label: change the first MID of the first held-out row
        seg = os.path.join(second, "eval", "segments.csv")
        with open(seg) as f:
            text = f.read().split("\n")
        text[3] = re.sub(r'"/[mt]/[^,"]+', '"/m/09x0r' if "/m/09x0r" not in text[3] else '"/m/04rlf', text[3])
        with open(seg, "w") as f:
            f.write("\n".join(text))
        broken = Checker()
        validate(second, broken)
        ck.expect(any("meta labels != CSV labels" in m for m in broken.failures),
                  "the checker did not notice a changed label (negative control)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for m in ck.failures:
        print(f"FAIL: {m}")
    print(f"self-check: {ck.checks - len(ck.failures)}/{ck.checks} checks passed "
          f"({n_format} on formats, labels and splits of the tiny set)")
    return 1 if ck.failures else 0
