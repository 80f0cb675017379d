"""Build the dataset: packages and tools, event banks, the three splits (in parallel), and the output files in the
official AudioSet formats. The output folder appears only when everything is written (atomic rename).

OUT/
  train/ eval/ val/             train: train sources; eval: held-out sources only; val: train sources, new mixtures
    audio/Y<YTID>.wav           10 s, 32 kHz, mono, int16
    segments.csv                official segment-CSV layout (3 comment lines, `YTID, 0.000, 10.000, "mid,mid"`)
    meta.jsonl                  one clip per line: labels and every event with its provenance
  class_labels_indices.csv      the 527 AudioSet classes (index,mid,display_name)
  manifest.json                 seed, sizes, package and tool versions, per-class counts, leakage check
  ATTRIBUTION.md                the packages whose recordings are in the clips, with their licences
"""
import json
import multiprocessing
import os
import shutil
import time

import numpy as np

from . import audio, bank, catalog, debian, mix

SPLITS = ("train", "eval", "val")
YTID_CODE = {"train": "T", "eval": "E", "val": "V"}
DATASET = "debset-v1"
_STATE = {}  # what the worker processes need (inherited through fork)


def split_sizes(tiny, clips):
    if tiny:
        return {"train": 12, "eval": 4, "val": 4}
    return {"train": clips, "eval": max(4, clips // 4), "val": max(4, round(0.15 * clips))}


def ytid(split, index):
    """An 11-character YouTube-like id, unique per split and clip: DEB + split letter + 7 digits."""
    return f"DEB{YTID_CODE[split]}{index:07d}"


def _clip_task(task):
    split, index = task
    ctx, banks, out_tmp, label_mode = (_STATE[k] for k in ("ctx", "banks", "out_tmp", "label_mode"))
    x, meta, rng = mix.make_clip(ctx, banks, split, index, label_mode)
    yid = ytid(split, index)
    audio.write_wav_int16(os.path.join(out_tmp, split, "audio", f"Y{yid}.wav"), x, rng)
    return index, yid, meta


def _segments_csv(rows, labels):
    created = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(int(os.environ.get("SOURCE_DATE_EPOCH", 1686355200))))
    n_pos = sum(len(r[1]) for r in rows)
    uniq = len({i for r in rows for i in r[1]})
    lines = [f"# Segments csv created {created}",
             f"# num_ytids={len(rows)}, num_segs={len(rows)}, num_unique_labels={uniq}, num_positive_labels={n_pos}",
             "# YTID, start_seconds, end_seconds, positive_labels"]
    lines += [f'{yid}, 0.000, 10.000, "{",".join(labels.mids[i] for i in idx)}"' for yid, idx in rows]
    return "\n".join(lines) + "\n"


def _json(obj):
    def conv(o):
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(type(o))
    return json.dumps(obj, ensure_ascii=False, default=conv)


def _attribution(used):
    lines = ["# Attribution", "",
             f"The clips of this {DATASET} dataset are mixtures of recordings and renders from these Debian 12 "
             "packages. Each clip's events name their package, version, file and licence in meta.jsonl. The licences "
             "are DFSG-free, but attribution and share-alike duties (CC-BY, CC-BY-SA, GPL) pass on to the mixtures: "
             "keep meta.jsonl and this file with the audio, and do not publish the clips as CC0.", "",
             "| package | version | licence(s) used | copyright file |", "| --- | --- | --- | --- |"]
    for pkg, version in sorted(used):
        lines.append(f"| {pkg} | {version} | {'; '.join(sorted(used[(pkg, version)]))} | "
                     f"/usr/share/doc/{pkg}/copyright |")
    return "\n".join(lines) + "\n"


def build(args):
    t_start = time.time()
    log = debian.log
    out = os.path.abspath(args.out)
    if os.path.exists(out) and not args.force:
        raise SystemExit(f"make_demo_dataset: {out} exists; pass --force to replace it")
    labels = catalog.ClassLabels()
    classes = catalog.load_catalog()
    pkg_set = catalog.TINY_PACKAGES if args.tiny else catalog.EXTENDED_PACKAGES if args.extended \
        else catalog.CORE_PACKAGES
    tool_set = catalog.TINY_TOOLS if args.tiny else catalog.CORE_TOOLS
    tools = debian.ensure_tools(tool_set, catalog.TOOL_PACKAGES, allow_install=not args.no_install)
    if "sox" not in tools:
        raise SystemExit("make_demo_dataset: sox is required to decode audio (apt-get install sox)")
    cache = debian.PackageCache(args.cache)
    packages = cache.fetch(list(pkg_set), jobs=args.jobs)
    for pkg, (version, _) in sorted(packages.items()):
        if pkg in catalog.TESTED_VERSIONS and version != catalog.TESTED_VERSIONS[pkg]:
            log(f"note: {pkg} {version} differs from the version the catalog was measured with "
                f"({catalog.TESTED_VERSIONS[pkg]}); file lists may differ")
    t_fetch = time.time()
    ctx = bank.Context(args.seed, cache.dir, packages, tools, labels)
    ctx.class_id = {c["name"]: c["id"] for c in classes}
    banks = bank.build_banks(ctx, classes, log)
    sizes = split_sizes(args.tiny, args.clips)
    # held-out: only classes that train also has (a class the model never saw cannot be scored)
    banks["eval"] = {k: v for k, v in banks["eval"].items() if k in banks["train"]}
    for side in ("train", "eval"):
        log(f"{side} sources: {len(banks[side])} classes: {' '.join(sorted(banks[side], key=ctx.class_id.get))}")
    if not banks["train"] or not banks["eval"]:
        raise SystemExit("make_demo_dataset: no usable sources for the train or the held-out side (see above)")

    out_tmp = f"{out}.partial-{os.getpid()}"
    shutil.rmtree(out_tmp, ignore_errors=True)
    try:
        for split in SPLITS:
            os.makedirs(os.path.join(out_tmp, split, "audio"))
        _STATE.update(ctx=ctx, banks=banks, out_tmp=out_tmp, label_mode=args.labels)
        tasks = [(s, i) for s in SPLITS for i in range(sizes[s])]
        results = {s: [None] * sizes[s] for s in SPLITS}
        done = 0
        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            for (split, _), (index, yid, meta) in zip(tasks, pool.imap(_clip_task, tasks, chunksize=2)):
                results[split][index] = (yid, meta)
                done += 1
                if done % max(1, len(tasks) // 10) == 0 or done == len(tasks):
                    log(f"clips {done}/{len(tasks)} ({time.time() - t_fetch:.0f} s)")
        summary, used, md5_by_split = _write_splits(out_tmp, results, labels, ctx)
        leaks = md5_by_split["eval"] & (md5_by_split["train"] | md5_by_split["val"])
        if leaks:
            raise SystemExit(f"make_demo_dataset: leakage: {len(leaks)} recording(s) occur in the held-out split "
                             "and in train/val (PCM md5); the catalog's train/eval sources overlap")
        shutil.copyfile(catalog.CLASS_LABELS_PATH, os.path.join(out_tmp, "class_labels_indices.csv"))
        with open(os.path.join(out_tmp, "ATTRIBUTION.md"), "w") as f:
            f.write(_attribution(used))
        manifest = {
            "dataset": DATASET, "generator": "tools/make_demo_dataset", "seed": args.seed,
            "profile": "tiny" if args.tiny else "extended" if args.extended else "core", "labels": args.labels,
            "sample_rate": catalog.SAMPLE_RATE, "clip_seconds": catalog.CLIP_SECONDS,
            "packages": {p: v for p, (v, _) in sorted(packages.items())}, "tools": tools,
            "splits": summary, "leakage_check": "no recording (PCM md5) shared by eval and train/val",
            "classes": {c["name"]: {"audioset_labels": [labels.names[i] for i in c["label_indices"]],
                                    "train": c["name"] in banks["train"], "eval": c["name"] in banks["eval"],
                                    "weak": c["name"] in catalog.WEAK} for c in classes
                        if c["name"] in banks["train"] or c["name"] in banks["eval"]},
        }
        with open(os.path.join(out_tmp, "manifest.json"), "w") as f:
            f.write(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
        old = None
        if os.path.exists(out):
            old = f"{out}.old-{os.getpid()}"
            os.rename(out, old)
        os.rename(out_tmp, out)
        if old:
            shutil.rmtree(old)
    finally:
        shutil.rmtree(out_tmp, ignore_errors=True)
    n = sum(sizes.values())
    log(f"wrote {n} clips to {out} in {time.time() - t_start:.1f} s "
        f"(packages/tools {t_fetch - t_start:.1f} s, banks+clips {time.time() - t_fetch:.1f} s)")
    return out


def _write_splits(out_tmp, results, labels, ctx):
    summary, used, md5_by_split = {}, {}, {}
    for split in SPLITS:
        rows, md5s, per_class, per_label = [], set(), {}, {}
        with open(os.path.join(out_tmp, split, "meta.jsonl"), "w") as f:
            for yid, meta in results[split]:
                idx = meta["labels"]
                rows.append((yid, idx))
                record = {"ytid": yid, "file": f"audio/Y{yid}.wav", "split": split,
                          "labels": [labels.mids[i] for i in idx], "label_indices": idx,
                          "label_names": [labels.names[i] for i in idx], **{k: v for k, v in meta.items()
                                                                            if k != "labels"}}
                f.write(_json(record) + "\n")
                for ev in meta["events"]:
                    per_class[ev["class"]] = per_class.get(ev["class"], 0) + 1
                    md5s.update(ev["md5s"])
                    for s in ev["sources"]:
                        if "package" in s:
                            used.setdefault((s["package"], s["version"]), set()).add(s["licence"])
                        elif s["generator"] in ("espeak-ng", "festival"):
                            used.setdefault((s["generator"], s["version"]), set()).add(s["licence"])
                for i in idx:
                    per_label[labels.names[i]] = per_label.get(labels.names[i], 0) + 1
        with open(os.path.join(out_tmp, split, "segments.csv"), "w") as f:
            f.write(_segments_csv(rows, labels))
        md5_by_split[split] = md5s
        summary[split] = {
            "clips": len(rows), "labels_per_clip": round(sum(len(r[1]) for r in rows) / max(1, len(rows)), 2),
            "event_classes": dict(sorted(per_class.items(), key=lambda kv: ctx.class_id[kv[0]])),
            "audioset_label_positives": dict(sorted(per_label.items())),
        }
    return summary, used, md5_by_split
