#!/usr/bin/env python3
"""Writes tests/data/conv2d_golden.txt: conv2d forward and gradients from PyTorch (float64), for
tests/test_conv2d_golden.cpp. The engine is channels-last, PyTorch is NCHW: x, y, r and dx are permuted
to (N, H, W, C) before they are written. Run from the repository root: python3 tools/gen_conv2d_golden.py
"""
import torch
import torch.nn.functional as F

OUT = "tests/data/conv2d_golden.txt"

# name, (N, H, W, Ci), Co, (kh, kw), (stride_h, stride_w), (pad_h, pad_w), groups
CASES = [
    ("stem", (1, 4, 37, 1), 3, (2, 16), (2, 16), (0, 0), 1),
    ("grouped_3x3_s2", (2, 7, 9, 4), 6, (3, 3), (2, 2), (1, 1), 2),
]


def write_tensor(f, name, t):
    t = t.detach().contiguous()
    f.write(f"{name} {t.dim()} {' '.join(str(s) for s in t.shape)}\n")
    vals = [repr(float(v)) for v in t.flatten().tolist()]
    for i in range(0, len(vals), 8):
        f.write(" ".join(vals[i:i + 8]) + "\n")


def main():
    torch.manual_seed(20240611)
    with open(OUT, "w") as f:
        f.write(f"# conv2d golden data from tools/gen_conv2d_golden.py, PyTorch {torch.__version__}, float64.\n")
        f.write("# Per case: 'case <name>', 'params <stride_h> <stride_w> <pad_h> <pad_w> <groups>', then the\n")
        f.write("# tensors x w b y r dx dw db, each '<name> <rank> <dims...>' followed by its row-major values.\n")
        f.write("# x, y, r, dx: (N, H, W, C); w, dw: (Co, Ci/groups, kh, kw); b, db: (Co).\n")
        f.write("# dx, dw, db are the gradients of sum(y * r).\n")
        for name, (n, h, w_, ci), co, (kh, kw), stride, pad, groups in CASES:
            x = (torch.rand(n, h, w_, ci, dtype=torch.float64) * 2 - 1).requires_grad_()
            w = ((torch.rand(co, ci // groups, kh, kw, dtype=torch.float64) * 2 - 1) * 0.5).requires_grad_()
            b = ((torch.rand(co, dtype=torch.float64) * 2 - 1) * 0.5).requires_grad_()
            y = F.conv2d(x.permute(0, 3, 1, 2), w, b, stride=stride, padding=pad, groups=groups)
            y = y.permute(0, 2, 3, 1)  # (N, Ho, Wo, Co)
            r = torch.rand(y.shape, dtype=torch.float64) * 2 - 1
            (y * r).sum().backward()
            f.write(f"case {name}\n")
            f.write(f"params {stride[0]} {stride[1]} {pad[0]} {pad[1]} {groups}\n")
            for tname, t in [("x", x), ("w", w), ("b", b), ("y", y), ("r", r),
                             ("dx", x.grad), ("dw", w.grad), ("db", b.grad)]:
                write_tensor(f, tname, t)


if __name__ == "__main__":
    main()
