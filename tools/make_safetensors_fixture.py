#!/usr/bin/env python3
"""Writes tests/data/safetensors/torch_fixture.safetensors with PyTorch's safetensors package.

The engine's test (tests/test_safetensors.cpp, "safetensors: PyTorch fixture") recomputes every value
from the same formulas and compares exactly, so change both together.

    python3 tools/make_safetensors_fixture.py
"""
import os

import torch
from safetensors.torch import save_file


def main():
    i = torch.arange
    tensors = {
        # f32 [2, 3, 5]: i * 0.25 - 3 (exact in f32)
        "block.weight": (i(30, dtype=torch.float64) * 0.25 - 3).to(torch.float32).reshape(2, 3, 5),
        # f64 [7]: i / 3 (computed in double on both sides)
        "stats.f64": i(7, dtype=torch.float64) / 3,
        # bf16 [3, 4]: (i - 5) * 0.5 (exact in bf16)
        "half.bf16": ((i(12, dtype=torch.float64) - 5) * 0.5).to(torch.bfloat16).reshape(3, 4),
        # i32 [2, 2, 3]: i * 1000 - 5000
        "index.i32": (i(12, dtype=torch.int32) * 1000 - 5000).reshape(2, 2, 3),
        # i64 [5]: (i - 2) * 2^40
        "count.i64": (i(5, dtype=torch.int64) - 2) * (1 << 40),
        # u8 [4, 5]: (i * 13) mod 256
        "mask.u8": ((i(20, dtype=torch.int64) * 13) % 256).to(torch.uint8).reshape(4, 5),
        # 0-dim tensors: an f32 scalar and a BatchNorm-like num_batches_tracked
        "scalar": torch.tensor(3.5, dtype=torch.float32),
        "bn.num_batches_tracked": torch.tensor(7, dtype=torch.int64),
        # non-trivial 4-d shape, f32 [1, 7, 1, 3]: ((i * i) mod 17 - 8) / 16
        "conv.weight": (((i(21) * i(21)) % 17 - 8) / 16).to(torch.float32).reshape(1, 7, 1, 3),
        # empty tensor [0, 3]
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    metadata = {"format": "pt", "source": "tools/make_safetensors_fixture.py"}
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "safetensors",
                       "torch_fixture.safetensors")
    save_file(tensors, out, metadata=metadata)
    print(f"wrote {os.path.normpath(out)} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
