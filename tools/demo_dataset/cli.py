"""Command line of tools/make_demo_dataset."""
import argparse
import os
import sys


def parse(argv):
    p = argparse.ArgumentParser(
        prog="make_demo_dataset",
        description="Build the debset-v1 demo dataset: 10 s, 32 kHz clips mixed from recordings in Debian packages, "
                    "labelled with AudioSet classes, written in the official AudioSet formats "
                    "(Y<YTID>.wav, segments CSV) plus meta.jsonl with every event's provenance. "
                    "See docs/demo-dataset.md.")
    p.add_argument("--out", help="output folder (created atomically; must not exist unless --force)")
    p.add_argument("--cache", default=os.path.join("~", ".cache", "dcls-engine", "debian"),
                   help="package and render cache (default ~/.cache/dcls-engine/debian)")
    p.add_argument("--seed", type=int, default=0, help="everything is a function of the seed (default 0)")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--tiny", action="store_true",
                      help="CI size: 12 train + 4 held-out + 4 val clips from 2 small packages (24 MB), "
                           "sox and espeak-ng")
    size.add_argument("--clips", type=int, default=400,
                      help="train clips (1-2000, default 400); held-out = clips/4, val = 0.15 clips")
    p.add_argument("--extended", action="store_true",
                   help="also use the extended packages (about 970 MB more: widelands, megaglest, supertux, ...)")
    p.add_argument("--labels", choices=("full", "leaf+parent"), default="full",
                   help="label each event with its leaf and all ancestors (default) or only leaf and parent")
    p.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="worker processes")
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--no-install", action="store_true",
                   help="never run apt-get install (sources whose program is missing are skipped)")
    p.add_argument("--self-check", action="store_true",
                   help="build the tiny set twice into a temporary folder and verify formats, labels, splits and "
                        "determinism; exit status 0 when all checks pass")
    a = p.parse_args(argv)
    if not a.self_check and not a.out:
        p.error("--out is required (or use --self-check)")
    if not 1 <= a.clips <= 2000:
        p.error(f"--clips must be between 1 and 2000, got {a.clips}")
    if a.jobs < 1:
        p.error("--jobs must be at least 1")
    if a.tiny and a.extended:
        p.error("--tiny and --extended exclude each other")
    return a


def main(argv):
    args = parse(argv)
    if args.self_check:
        from . import selfcheck
        return selfcheck.run(args)
    from . import build
    build.build(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
