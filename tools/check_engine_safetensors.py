#!/usr/bin/env python3
"""Loads safetensors files written by the engine with PyTorch's safetensors and prints what it sees.

    python3 tools/check_engine_safetensors.py FILE.safetensors [...]

Exit status 0 when every file loads. To get engine-written files, run the engine's safetensors tests with
ENGINE_KEEP_TEST_OUTPUT=<dir> (they copy their outputs there):

    ENGINE_KEEP_TEST_OUTPUT=/tmp/st build/tests/engine_tests "[safetensors]"
    python3 tools/check_engine_safetensors.py /tmp/st/*.safetensors
"""
import sys

from safetensors import safe_open
from safetensors.torch import load_file


def main(paths):
    if not paths:
        print(__doc__)
        return 2
    for path in paths:
        tensors = load_file(path)  # validates the header and offsets like the Rust crate
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
        print(f"{path}: {len(tensors)} tensors, {len(metadata)} metadata entries")
        for name, t in tensors.items():
            first = t.flatten()[:4].tolist() if t.numel() else []
            print(f"  {name:40s} {str(list(t.shape)):20s} {str(t.dtype):16s} {first}")
        for k, v in sorted(metadata.items()):
            print(f"  metadata {k!r}: {v!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
