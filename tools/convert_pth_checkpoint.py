#!/usr/bin/env python3
"""Converts a PyTorch checkpoint of the DCLS-Audio models (.pth, as main.py / utils.save_model write it:
{"model": state_dict, "optimizer": ..., "epoch": ..., ...}) to a .safetensors file the engine loads with
load_module (shared/spec/models.md §5.4).

Usage:
  python3 tools/convert_pth_checkpoint.py IN.pth OUT.safetensors [--key model] [--unsafe-pickle]

- The state dict is taken from IN[--key] (default "model"; "model_ema" for the EMA weights), or IN itself
  when it is a plain state dict. A "module." prefix on every key (a DistributedDataParallel wrapper) is
  stripped.
- Shared tensors (DCLS P/SIG: one tensor per stage under every layer's name) are stored once, under the
  lexicographically first name of each group: safetensors.torch.save_model's rule
  (_remove_duplicate_names), so the file is the same as save_model(model) would write. Each dropped name
  is recorded in the metadata as "<dropped>": "<kept>". Checkpoints whose duplicates were saved as separate
  copies keep every name (the engine accepts them when the copies are equal).
- Non-contiguous tensors are made contiguous; every tensor must be f32/f64/bf16/i32/i64/u8 (the engine's
  dtypes).
- The round trip is verified: every original key is either in the file with identical values or recorded
  as an alias of a stored key holding identical values. The output is written atomically (temporary file,
  then rename), so a failure leaves no partial file.

torch.load runs with weights_only=True, which also accepts the argparse Namespace that main.py pickles
under "args". A checkpoint holding other objects needs --unsafe-pickle: the full unpickler, which can run
code from the file; use it only for checkpoints you trust.
Needs torch and safetensors.
"""
import argparse
import contextlib
import os
import sys
import tempfile

import torch
from safetensors.torch import _remove_duplicate_names, load_file, save_file

SUPPORTED = {torch.float32, torch.float64, torch.bfloat16, torch.int32, torch.int64, torch.uint8}


def fail(msg):
    sys.exit(f"convert_pth_checkpoint: {msg}")


def read_state_dict(path, key, unsafe):
    try:
        with contextlib.nullcontext() if unsafe else torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=not unsafe)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except Exception as e:  # weights_only refuses pickled objects such as argparse.Namespace
        hint = "" if unsafe else " (a checkpoint with pickled objects needs --unsafe-pickle; see --help)"
        fail(f"{path}: cannot be loaded: {str(e).splitlines()[0]}{hint}")
    if isinstance(ckpt, dict) and key in ckpt:
        sd, where = ckpt[key], f"{path}[{key!r}]"
    elif isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd, where = ckpt, path
    else:
        keys = ", ".join(map(repr, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        fail(f"{path}: no state dict under {key!r} (top-level entries: {keys}); choose one with --key")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        fail(f"{where} is not a state dict of tensors")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
        print("stripped the 'module.' prefix of every key")
    for k, v in sd.items():
        if v.dtype not in SUPPORTED:
            fail(f"{where}: tensor {k} has dtype {v.dtype}, which the engine does not read")
    return sd, ckpt


def convert(sd, out_path, metadata):
    """save_model's rule on a plain state dict; returns {dropped name: kept name}."""
    dropped = {}
    for kept, names in _remove_duplicate_names(sd).items():
        for name in names:
            dropped[name] = kept
    tensors = {k: v.contiguous() for k, v in sd.items() if k not in dropped}
    meta = dict(metadata)
    for name, kept in dropped.items():
        meta.setdefault(name, kept)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    fd, tmp = tempfile.mkstemp(prefix=".convert_", suffix=".safetensors", dir=out_dir)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        verify(sd, dropped, tmp)
        os.replace(tmp, out_path)
    except BaseException:
        os.unlink(tmp)
        raise
    return dropped, len(tensors)


def verify(sd, dropped, path):
    stored = load_file(path)
    for k, v in sd.items():
        name = dropped.get(k, k)
        if name not in stored:
            fail(f"round trip: {k} is missing from the written file")
        if stored[name].dtype != v.dtype or not torch.equal(stored[name], v):
            fail(f"round trip: {k} differs in the written file (stored as {name})")
    if set(stored) != set(sd) - set(dropped):
        fail("round trip: the written file holds unexpected keys")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("input", help="PyTorch checkpoint (.pth)")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--key", default="model", help="entry holding the state dict (default: model)")
    ap.add_argument("--unsafe-pickle", action="store_true",
                    help="load with the full unpickler (only for trusted files; see the description)")
    args = ap.parse_args()
    if not args.output.endswith(".safetensors"):
        fail(f"{args.output}: the output name must end in .safetensors")

    sd, ckpt = read_state_dict(args.input, args.key, args.unsafe_pickle)
    metadata = {"format": "pt", "source": os.path.basename(args.input), "source_key": args.key}
    if isinstance(ckpt, dict) and isinstance(ckpt.get("epoch"), (int, str)):
        metadata["epoch"] = str(ckpt["epoch"])
    dropped, n_stored = convert(sd, args.output, metadata)

    n_values = sum(v.numel() for k, v in sd.items() if k not in dropped)
    print(f"wrote {args.output}: {n_stored} tensors, {n_values:,} values, from {len(sd)} state-dict keys of "
          f"{args.input}")
    if dropped:
        groups = {}
        for name, kept in dropped.items():
            groups.setdefault(kept, []).append(name)
        print(f"{len(dropped)} shared names stored once ({len(groups)} tensors), e.g. {next(iter(groups))} "
              f"also under {', '.join(groups[next(iter(groups))])}")
    print("round trip verified: every key reads back with identical values")


if __name__ == "__main__":
    main()
