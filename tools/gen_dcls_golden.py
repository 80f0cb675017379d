#!/usr/bin/env python3
"""Golden files for the DCLS-Gauss layer and the depthwise convolution, from the real `dcls` 0.1.1
package (pure PyTorch) and torch.nn.functional.conv2d. Read by tests/test_dcls_golden.cpp.

Usage (from anywhere):  python3 tools/gen_dcls_golden.py [--out tests/data/dcls]
Needs torch and safetensors; installs dcls==0.1.1 with pip if it is missing or another version.

Every DCLS file (<config>_f32.safetensors, <config>_f64.safetensors) describes a chain of `layers`
Dcls2d layers (version "gauss", stride 1, padding D//2) applied in sequence, all using ONE P and ONE SIG
(a single layer, or a stage of two layers that share them as DCLS-Audio does). Tensors, in the engine's
layouts (activations channels-last (N, H, W, C); parameters in PyTorch layouts):
  x (N, H, W, Cin)                    input
  P, SIG (2, Co, Cin_g, Kc)           positions and raw sigmas
  layer{i}.weight (Co, Cin_g, Kc)     layer{i}.bias (Co), only when metadata bias == "1"
  layer{i}.kernel (Co, Cin_g, D0, D1) the dense kernel built by ConstructKernel2d
  y (N, Ho, Wo, Co)                   output of the last layer
  proj (N, Ho, Wo, Co)                fixed random projection; the loss is L = sum(proj * y)
  grad.x, grad.P, grad.SIG, grad.layer{i}.weight, grad.layer{i}.bias   dL/d(...) by torch autograd
Metadata: cin, cout, groups, kc, d0, d1, pad_h, pad_w, layers, bias, dtype, torch, dcls, config.

The f32 file holds the f64 inputs rounded to f32, with every result recomputed by torch in f32.

dwconv_f32/_f64.safetensors: plain depthwise F.conv2d (groups = C) cases with strides and paddings the
DCLS layer does not use; per case j: case{j}.x, .weight, .bias, .y, .proj, .grad.x, .grad.weight,
.grad.bias, and metadata case{j} = "stride_h,stride_w,pad_h,pad_w"; cases = their number.
"""
import argparse
import copy
import importlib
import importlib.metadata
import logging
import os
import subprocess
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

DCLS_VERSION = "0.1.1"


def import_dcls():
    try:
        have = importlib.metadata.version("dcls")
    except importlib.metadata.PackageNotFoundError:
        have = None
    if have != DCLS_VERSION:
        subprocess.check_call([sys.executable, "-m", "pip", "install", f"dcls=={DCLS_VERSION}"])
        importlib.invalidate_caches()
    from DCLS.construct.modules import Dcls2d

    return Dcls2d


def nhwc(t):
    return t.detach().permute(0, 2, 3, 1).contiguous()


def nchw(t):
    return t.permute(0, 3, 1, 2)


# name: Cin, Cout, groups, Kc, (D0, D1), layers, bias, (N, H, W), how P and SIG are set (make_params).
# D0 and D1 are odd, so padding D//2 keeps H x W.
CONFIGS = {
    # DCLS-Audio layer (23x23, Kc 26) on a map smaller than the kernel, as in the late stages.
    "depthwise23": dict(cin=8, cout=8, groups=8, kc=26, dks=(23, 23), layers=1, bias=True, nhw=(2, 9, 7),
                        pset="spread"),
    # Non-square grid: exercises the D0//2 column / D1//2 row offset quirk.
    "nonsquare57": dict(cin=3, cout=3, groups=3, kc=4, dks=(5, 7), layers=1, bias=True, nhw=(2, 6, 9),
                        pset="spread"),
    # Dense (groups = 1) DCLS convolution.
    "groups1": dict(cin=3, cout=4, groups=1, kc=5, dks=(7, 7), layers=1, bias=True, nhw=(2, 6, 7), pset="spread"),
    # One stage: two layers with their own weight and bias, one shared P and SIG.
    "shared": dict(cin=6, cout=6, groups=6, kc=5, dks=(9, 9), layers=2, bias=True, nhw=(2, 7, 8), pset="spread"),
    # SIG with negative and exactly-zero entries (|SIG| kink: torch's sign(0) = 0), no bias.
    "sig_neg_zero": dict(cin=4, cout=4, groups=4, kc=6, dks=(7, 7), layers=1, bias=False, nhw=(1, 6, 7),
                         pset="sig_neg_zero"),
    # Elements far outside the grid (underflow to exactly 0) and partly outside (truncated Gaussians).
    "far_outside": dict(cin=3, cout=3, groups=3, kc=4, dks=(5, 5), layers=1, bias=True, nhw=(2, 5, 6),
                        pset="far_outside"),
}

# Depthwise F.conv2d cases: (N, H, W, C), (kh, kw), (stride_h, stride_w), (pad_h, pad_w).
DWCONV_CASES = [
    ((2, 9, 8, 5), (3, 5), (2, 2), (1, 2)),
    ((1, 11, 10, 3), (7, 7), (2, 1), (3, 0)),
    ((2, 6, 7, 4), (23, 23), (1, 1), (11, 11)),
    ((1, 8, 9, 2), (5, 3), (1, 2), (4, 1)),
]


def make_params(Dcls2d, cfg, seed):
    """Dcls2d layers in float64 with their default initialisation, then P/SIG set per cfg['pset']."""
    torch.manual_seed(seed)
    D0, D1 = cfg["dks"]
    layers = []
    for _ in range(cfg["layers"]):
        m = Dcls2d(cfg["cin"], cfg["cout"], kernel_count=cfg["kc"], stride=1, padding=(D0 // 2, D1 // 2),
                   dilated_kernel_size=(D0, D1), groups=cfg["groups"], bias=cfg["bias"], version="gauss",
                   use_implicit_gemm=False).double()
        layers.append(m)
    P, SIG = layers[0].P, layers[0].SIG
    with torch.no_grad():
        # Positions wider than the N(0, 0.5) init (trained layers spread out, some past the border) and
        # sigmas away from the constant 0.23 init.
        P.copy_(torch.randn_like(P) * torch.tensor([D1 / 4, D0 / 4], dtype=P.dtype).view(2, 1, 1, 1))
        SIG.copy_(0.23 + 0.3 * torch.rand_like(SIG))
        if cfg["pset"] == "sig_neg_zero":
            flat = SIG.view(-1)
            flat[0::3] = 0.0
            flat[1::3] = -0.1 - 0.6 * torch.rand_like(flat[1::3])
        if cfg["pset"] == "far_outside":
            Pf = P.view(2, -1)
            Pf[0, 0] = 40.0   # >= 47 sigmas from the grid: exp underflows to 0 in f32 and f64
            Pf[1, 1] = -55.0
            Pf[0, 2] = 3.2    # partly outside the 5x5 grid
            Pf[1, 3] = -2.9
    for m in layers[1:]:
        m.P, m.SIG = P, SIG  # tie, as replace_depthwise_dcls does
    return layers


def run_dcls(layers, x, proj):
    for m in layers:
        m.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    h = x
    for m in layers:
        h = m(h)
    (h * proj).sum().backward()
    return h, x.grad


def dcls_file(Dcls2d, name, cfg, seed, out_dir):
    layers64 = make_params(Dcls2d, cfg, seed)
    N, H, W = cfg["nhw"]
    D0, D1 = cfg["dks"]
    gen = torch.Generator().manual_seed(seed + 1)
    x64 = torch.randn(N, cfg["cin"], H, W, generator=gen, dtype=torch.float64)
    proj64 = torch.randn(N, cfg["cout"], H, W, generator=gen, dtype=torch.float64)
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        layers = copy.deepcopy(layers64)  # keeps the P/SIG tie; f32 gets the f64 values rounded
        for m in layers:
            m.to(dtype)
        assert all(m.P is layers[0].P and m.SIG is layers[0].SIG for m in layers)
        x, proj = x64.to(dtype), proj64.to(dtype)
        y, gx = run_dcls(layers, x, proj)
        t = {"x": nhwc(x), "P": layers[0].P.detach().clone(), "SIG": layers[0].SIG.detach().clone(),
             "y": nhwc(y), "proj": nhwc(proj), "grad.x": nhwc(gx),
             "grad.P": layers[0].P.grad.clone(), "grad.SIG": layers[0].SIG.grad.clone()}
        for i, m in enumerate(layers):
            with torch.no_grad():
                t[f"layer{i}.kernel"] = m.DCK(m.weight, m.P, m.SIG).contiguous()
            t[f"layer{i}.weight"] = m.weight.detach().clone()
            t[f"grad.layer{i}.weight"] = m.weight.grad.clone()
            if m.bias is not None:
                t[f"layer{i}.bias"] = m.bias.detach().clone()
                t[f"grad.layer{i}.bias"] = m.bias.grad.clone()
        meta = {"cin": cfg["cin"], "cout": cfg["cout"], "groups": cfg["groups"], "kc": cfg["kc"], "d0": D0,
                "d1": D1, "pad_h": D0 // 2, "pad_w": D1 // 2, "layers": cfg["layers"], "bias": int(cfg["bias"]),
                "dtype": tag, "torch": torch.__version__, "dcls": DCLS_VERSION, "config": name}
        save_file({k: v.contiguous() for k, v in t.items()}, os.path.join(out_dir, f"{name}_{tag}.safetensors"),
                  metadata={k: str(v) for k, v in meta.items()})


def dwconv_file(out_dir, seed):
    gen = torch.Generator().manual_seed(seed)
    cases64 = []
    for (N, H, W, C), (kh, kw), stride, pad in DWCONV_CASES:
        x = torch.randn(N, C, H, W, generator=gen, dtype=torch.float64)
        w = 0.3 * torch.randn(C, 1, kh, kw, generator=gen, dtype=torch.float64)
        b = torch.randn(C, generator=gen, dtype=torch.float64)
        Ho = (H + 2 * pad[0] - kh) // stride[0] + 1
        Wo = (W + 2 * pad[1] - kw) // stride[1] + 1
        proj = torch.randn(N, C, Ho, Wo, generator=gen, dtype=torch.float64)
        cases64.append((x, w, b, proj, stride, pad))
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        t, meta = {}, {"cases": str(len(cases64)), "dtype": tag, "torch": torch.__version__}
        for j, (x, w, b, proj, stride, pad) in enumerate(cases64):
            x, w, b = (v.to(dtype).clone().requires_grad_(True) for v in (x, w, b))
            proj = proj.to(dtype)
            y = F.conv2d(x, w, b, stride=stride, padding=pad, groups=x.shape[1])
            (y * proj).sum().backward()
            t.update({f"case{j}.x": nhwc(x), f"case{j}.weight": w.detach().clone(), f"case{j}.bias": b.detach().clone(),
                      f"case{j}.y": nhwc(y), f"case{j}.proj": nhwc(proj), f"case{j}.grad.x": nhwc(x.grad),
                      f"case{j}.grad.weight": w.grad.clone(), f"case{j}.grad.bias": b.grad.clone()})
            meta[f"case{j}"] = f"{stride[0]},{stride[1]},{pad[0]},{pad[1]}"
        save_file(t, os.path.join(out_dir, f"dwconv_{tag}.safetensors"), metadata=meta)


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, "tests", "data", "dcls"))
    args = ap.parse_args()
    Dcls2d = import_dcls()
    logging.disable(logging.WARNING)  # Dcls2d warns that the implicit-GEMM CUDA extension is absent
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)  # deterministic CPU reductions
    for j, (name, cfg) in enumerate(CONFIGS.items()):
        dcls_file(Dcls2d, name, cfg, 1000 + 17 * j, args.out)
    dwconv_file(args.out, 4242)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {len(os.listdir(args.out))} files, {total / 1024:.1f} KiB, to {args.out}")


if __name__ == "__main__":
    main()
