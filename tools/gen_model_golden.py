#!/usr/bin/env python3
"""Reference goldens for the six audio taggers, built with the paper's own PyTorch code
(K-H-Ismail/DCLS-Audio, models/{convnext,metaformer,fastvit}.py). Read by tests/test_model_golden.cpp.

Usage:
  python3 tools/gen_model_golden.py /path/to/DCLS-Audio                # six small models -> tests/data/models
  python3 tools/gen_model_golden.py /path/to/DCLS-Audio --full         # + full-size ConvNeXt-T-DCLS, written
                                                                      #   to $ENGINE_FULL_GOLDEN_DIR or
                                                                      #   ~/.cache/dcls-engine/model_golden
Needs torch, safetensors, timm 0.6.13 and DCLS 0.1.1 (the versions the spec was measured with); other
versions are refused unless --force. The paper's `models` package is imported from the given clone; no
code is copied from it.

How each model is built (the path main.py takes through timm.create_model, at a reduced size):
  1. the paper's class (ConvNeXt / MetaFormer with SepConv + MlpHead / FastViT with the SA24 layout) with
     the kwargs main.py passes (num_classes, drop_path_rate, layer_scale_init_value=1e-6,
     head_init_scale=1.0), but the small dims/depths below;
  2. DCLS variants: the paper's replace_depthwise_dcls(copy.deepcopy(model), 23, 26, "gauss") of that file;
  3. the audio stem swap of the registered function: Conv2d(1, dims[0], (2,16), stride (2,16)), bias only
     for ConvNeXt, trunc_normal_(std .02).
The builder is checked against timm.create_model(<name>) at the paper's size before anything is written:
same state-dict keys, shapes and aliasing, and the parameter counts of models.md §6.

Making the golden sensitive: after init every parameter that init leaves constant is redrawn (layer scales
1e-6 -> U(0.5, 1); ones (norm weights, res_scale, StarReLU scale) -> U(0.5, 1.5); zeros (biases, StarReLU
bias) -> U(-0.1, 0.1); DCLS SIG 0.23 -> U(0.1, 0.5)), and each BatchNorm's running stats are set to the
batch statistics of the golden input (one train-mode pass with momentum 1; random values would swamp the
signal in eval mode), then mean += U(-0.2, 0.2) * std and var *= U(0.5, 1.5), num_batches_tracked 0.
This is recorded in each golden's metadata ("init").

Files (all f32; activations in the engine's layouts):
  input.safetensors            x (2, 128, 1001, 1) BF16: two synthetic normalised log-mel spectrograms
                               (= PyTorch's (2, 1, 128, 1001) in memory), rounded to bf16 so that the
                               file is half the size; the models get exactly these values as f32.
                               target (2, K): soft BCE target
  <model>.weights.safetensors  safetensors.torch.save_model(model): state_dict() with each shared P/SIG
                               stored once under its lexicographically first name (models.md §5.4)
  <model>.golden.safetensors   logits (2, K)        eval mode
                               train_logits (2, K)  train mode, drop path 0
                               loss ()              BCEWithLogitsLoss(train_logits, target), mean
                               grad.<param>         d loss / d param for every named_parameters() entry
                               running.<buffer>     FastViT: every BatchNorm buffer after the train step
                               metadata: model, arch, variant, dims, depths, num_classes, input, init,
                               zero_grads (parameters whose gradient is exactly zero in exact arithmetic,
                               so the golden holds rounding noise), bn_invariant_grads (one weight per
                               channel feeding a train-mode BatchNorm: gradient O(eps), ill-conditioned),
                               torch_f32_vs_f64 (the golden's own error: the same run in float64),
                               torch, timm, dcls, safetensors
"""
import argparse
import contextlib
import copy
import importlib.metadata
import io
import logging
import math
import os
import re
import sys
from functools import partial

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file, save_model

TIMM_VERSION = "0.6.13"
DCLS_VERSION = "0.1.1"

NAMES = [
    "convnext_audio_tiny", "convnext_dcls_audio_tiny",
    "convformer_audio_s18", "convformer_dcls_audio_s18",
    "fastvit_audio_sa24", "fastvit_dcls_audio_sa24",
]
PAPER_SIZE = {  # arch: (depths, dims), models.md §1-3
    "convnext": ([3, 3, 9, 3], [96, 192, 384, 768]),
    "convformer": ([3, 3, 9, 3], [64, 128, 320, 512]),
    "fastvit": ([4, 4, 12, 4], [64, 128, 256, 512]),
}
# Same code paths at a fraction of the size (stage 2 keeps two blocks, so P/SIG are shared within a stage).
# FastViT: every PatchEmbed must still double the width (with Cout = Cin its grouped 7x7 would count as
# depthwise and become DCLS), stage 3 needs >= 2 attention heads of head_dim 32, and the SE width is
# 2 * 64 / 16 = 8. FastViT is then the bulk of the committed bytes, so the other two are narrower.
SMALL_SIZE = {
    "convnext": ([1, 1, 2, 1], [4, 8, 12, 16]),
    "convformer": ([1, 1, 2, 1], [4, 8, 12, 16]),
    "fastvit": ([1, 1, 2, 1], [8, 16, 32, 64]),
}
SMALL_CLASSES = 32  # keeps the committed files small; the head is the same Linear as with 527
PARAM_COUNTS = {  # models.md §6
    "convnext_audio_tiny": 28223855, "convnext_dcls_audio_tiny": 28221263,
    "convformer_audio_s18": 25797847, "convformer_dcls_audio_s18": 25781207,
    "fastvit_audio_sa24": 21064015, "fastvit_dcls_audio_sa24": 21016655,
}
INIT_NOTE = ("redrawn after init: layer scales U(0.5,1); constant-one weights U(0.5,1.5); zero biases "
             "U(-0.1,0.1); DCLS SIG U(0.1,0.5); BN running stats = batch stats of x, then "
             "mean += U(-0.2,0.2)*std, var *= U(0.5,1.5), num_batches_tracked 0")
# FastViT PatchEmbed: proj.0's BN biases shift every channel by a constant, which both train-mode BNs of
# proj.1 (rbr_skip, and rbr_conv after the 1x1 conv) subtract again: their gradient is exactly zero.
ZERO_GRAD = re.compile(r"network\.\d+\.proj\.0\.(lkb_origin|small_conv)\.bn\.bias")
AUDIOSET_MEAN, AUDIOSET_STD = -18.2696, 30.5735  # datasets.py


def check_versions(force):
    versions = {"torch": torch.__version__}
    for pkg, want in (("timm", TIMM_VERSION), ("DCLS", DCLS_VERSION), ("safetensors", None)):
        try:
            have = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            sys.exit(f"gen_model_golden: package {pkg} is not installed (need {want or 'any version'})")
        if want and have != want:
            msg = f"gen_model_golden: {pkg} {have} installed, the goldens are defined with {pkg} {want}"
            if not force:
                sys.exit(msg + " (pass --force to use it anyway)")
            print("WARNING: " + msg, file=sys.stderr)
        versions[pkg.lower()] = have
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return versions


def import_paper_models(ref_dir):
    """The clone's `models` package (registers the six timm names); returns its three modules."""
    ref_dir = os.path.abspath(ref_dir)
    if not os.path.isfile(os.path.join(ref_dir, "models", "convnext.py")):
        sys.exit(f"gen_model_golden: {ref_dir} is not a DCLS-Audio clone (no models/convnext.py)")
    sys.path.insert(0, ref_dir)
    with contextlib.redirect_stdout(io.StringIO()):  # fastvit.py prints about optional mmseg/mmdet
        import models
        from models import convnext, fastvit, metaformer
    if not os.path.abspath(models.__file__).startswith(ref_dir + os.sep):
        sys.exit(f"gen_model_golden: imported `models` from {models.__file__}, not from {ref_dir}")
    return {"convnext": convnext, "convformer": metaformer, "fastvit": fastvit}


def arch_of(name):
    return name.split("_")[0]


def build(paper, name, depths, dims, num_classes, drop_path_rate=0.0):
    """`name` at the given size, along the registered function's path (see the docstring)."""
    from timm.models.layers import trunc_normal_

    arch, dcls = arch_of(name), "_dcls_" in name
    mod = paper[arch]
    kwargs = dict(num_classes=num_classes, drop_path_rate=drop_path_rate, layer_scale_init_value=1e-6,
                  head_init_scale=1.0)  # main.py's create_model call
    if arch == "convnext":
        model = mod.ConvNeXt(depths=depths, dims=dims, **kwargs)
    elif arch == "convformer":
        model = mod.MetaFormer(depths=depths, dims=dims, token_mixers=mod.SepConv, head_fn=mod.MlpHead, **kwargs)
    else:
        model = mod.FastViT(depths, token_mixers=("repmixer", "repmixer", "repmixer", "attention"),
                            embed_dims=dims, pos_embs=[None, None, None, partial(mod.RepCPE, spatial_shape=(7, 7))],
                            mlp_ratios=[4, 4, 4, 4], downsamples=[True, True, True, True], **kwargs)
    if dcls:
        model = mod.replace_depthwise_dcls(copy.deepcopy(model), dilated_kernel_size=23, kernel_count=26,
                                           version="gauss")
    stem = nn.Conv2d(1, dims[0], kernel_size=(2, 16), stride=(2, 16), bias=arch == "convnext")
    trunc_normal_(stem.weight, std=0.02)
    if arch == "convnext":
        nn.init.constant_(stem.bias, 0)
        model.downsample_layers[0][0] = stem
    elif arch == "convformer":
        model.downsample_layers[0].conv = stem
    else:
        model.patch_embed = stem
    return model


def structure(model):
    """(key, shape, alias group id) for every state-dict entry, and the unique parameter count."""
    sd = model.state_dict(keep_vars=True)
    ids = {}
    rows = [(k, tuple(v.shape), ids.setdefault(id(v), len(ids))) for k, v in sd.items()]
    return rows, sum(p.numel() for p in model.parameters() if p.requires_grad)


def verify_builder(paper, name):
    """build() at the paper's size must equal timm.create_model(name) as main.py calls it."""
    import timm

    depths, dims = PAPER_SIZE[arch_of(name)]
    ours, n_ours = structure(build(paper, name, depths, dims, 527, drop_path_rate=0.4))
    theirs, n_theirs = structure(timm.create_model(name, pretrained=False, num_classes=527, drop_path_rate=0.4,
                                                   layer_scale_init_value=1e-6, head_init_scale=1.0))
    if ours != theirs:
        diff = next((a, b) for a, b in zip(ours + [None], theirs + [None]) if a != b)
        sys.exit(f"gen_model_golden: builder differs from timm.create_model('{name}'): {diff}")
    if n_ours != PARAM_COUNTS[name]:
        sys.exit(f"gen_model_golden: {name} has {n_ours} parameters, models.md §6 says {PARAM_COUNTS[name]}")
    print(f"  builder == timm.create_model('{name}'): {len(ours)} keys, {n_ours:,} parameters")


def make_sensitive(model, gen, x):
    """Redraws every constant-initialised tensor (see INIT_NOTE) so that no block is hidden."""
    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=gen, dtype=torch.float64).mul(hi - lo).add(lo).float()

    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.numel() > 1 and not bool((p == p.flatten()[0]).all()):
                continue  # randomly initialised
            v = float(p.flatten()[0])
            if abs(v - 1e-6) < 1e-12:
                p.copy_(uniform(p.shape, 0.5, 1.0))
            elif v == 1.0:
                p.copy_(uniform(p.shape, 0.5, 1.5))
            elif v == 0.0:
                p.copy_(uniform(p.shape, -0.1, 0.1))
            elif name.endswith(".SIG") and abs(v - 0.23) < 1e-6:
                p.copy_(uniform(p.shape, 0.1, 0.5))
            elif p.numel() > 1:
                sys.exit(f"gen_model_golden: no rule for constant parameter {name} = {v}")
        # BatchNorm running stats: the batch statistics of x (one train-mode pass with momentum 1, so that
        # eval mode keeps the signal), then perturbed; num_batches_tracked back to 0.
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if bns:
            for m in bns:
                m.momentum = 1.0
            model.train()
            model(x)
            for m in bns:
                m.momentum = 0.1
                var = m.running_var
                m.running_mean.add_(uniform(var.shape, -0.2, 0.2) * var.sqrt())
                m.running_var.mul_(uniform(var.shape, 0.5, 1.5))
                m.num_batches_tracked.zero_()


def synthetic_logmel(gen, n=2, mels=128, frames=1001):
    """Normalised log-mel-like spectrograms (N, 1, mels, frames): a tilted noise floor, harmonic stacks
    with vibrato and decay, broadband onsets and silence gaps, in dB, then (x - mean) / std as datasets.py."""
    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    m = torch.arange(mels, dtype=torch.float64)[:, None]
    t = torch.arange(frames, dtype=torch.float64)[None, :]
    out = []
    for _ in range(n):
        db = -55.0 + 25.0 * (1 - m / mels) + 4.0 * torch.randn(mels, frames, generator=gen, dtype=torch.float64)
        for _ in range(6):  # notes: harmonic stacks on a mel-like (log) frequency axis
            start, length = int(rand(1) * 900), 40 + int(rand(1) * 300)
            f0 = 8 + 20 * rand(1)
            env = ((t >= start) & (t < start + length)).double() * torch.exp(-(t - start).clamp(min=0) / length)
            vib = 0.6 * torch.sin(2 * math.pi * t / (12 + 10 * rand(1)))
            for h in range(1, 9):
                centre = 30 * torch.log2(h * f0 / 8 + 1) + vib
                db = torch.maximum(db, -5 - 4 * h + 25 * env - 0.8 * (m - centre) ** 2 + 60 * (env - 1))
        for _ in range(12):  # onsets: short broadband bursts
            at = int(rand(1) * 990)
            burst = 10 - 0.03 * m + 3 * torch.randn(mels, 1, generator=gen, dtype=torch.float64)
            db[:, at:at + 4] = torch.maximum(db[:, at:at + 4], burst - 6 * torch.arange(4.0, dtype=torch.float64))
        gap = int(rand(1) * 900)
        db[:, gap:gap + 60] = -90 + 3 * torch.randn(mels, 60, generator=gen, dtype=torch.float64)
        out.append(db.clamp(-100, 40))
    x = (torch.stack(out)[:, None] - AUDIOSET_MEAN) / AUDIOSET_STD
    return x.to(torch.bfloat16).float()  # stored as bf16 (see the docstring), exact in f32


def soft_target(gen, n, k):
    """Mostly-off multi-label target with a few positives and label-smoothing-like noise, in [0, 1]."""
    pos = (torch.rand(n, k, generator=gen) < 0.1).float()
    return (pos * (0.6 + 0.4 * torch.rand(n, k, generator=gen)) + 0.1 * torch.rand(n, k, generator=gen)).clamp(0, 1)


def nhwc_input(x):
    return x.permute(0, 2, 3, 1).contiguous()  # (N, 1, H, W) -> (N, H, W, 1), same memory


def write_input(out_dir, x, target, seed):
    path = os.path.join(out_dir, "input.safetensors")
    save_file({"x": nhwc_input(x).to(torch.bfloat16), "target": target.contiguous()}, path,
              metadata={"seed": str(seed), "x": "synthetic normalised log-mel (N,H,W,1) = torch (N,1,H,W)",
                        "target": "soft BCE target (N,K)"})
    print(f"wrote {path}")


def bn_invariant(model):
    """Weights with one element per output channel feeding a train-mode BatchNorm (MobileOne's dw 1x1
    rbr_scale, conv_exp's grouped 1x1): BN removes their scale, so d loss / d w is O(eps) and a cancelling
    sum whose f32 value carries a large relative error (PyTorch's own f32 result too; see the f64 check)."""
    return [f"{n}.conv.weight" for n, m in model.named_modules()
            if isinstance(getattr(m, "conv", None), nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d)
            and m.conv.weight[0].numel() == 1]


def run(model, x, target):
    """Eval logits, then one train-mode forward/backward; returns the tensors the golden stores."""
    model.eval()
    with torch.no_grad():
        logits = model(x)
    model.train()
    train_logits = model(x)
    loss = nn.BCEWithLogitsLoss()(train_logits, target)
    loss.backward()
    out = {"logits": logits, "train_logits": train_logits.detach(), "loss": loss.detach()}
    for pname, p in model.named_parameters():
        out[f"grad.{pname}"] = p.grad
    for bname, b in model.named_buffers():
        out[f"running.{bname}"] = b
    return {k: v.detach() for k, v in out.items()}


def rel(a, b):
    return ((a.double() - b.double()).abs().max() / b.double().abs().max().clamp(min=1e-300)).item()


def golden(paper, name, depths, dims, x, target, out_dir, seed, versions):
    torch.manual_seed(seed)
    model = build(paper, name, depths, dims, target.shape[1])
    make_sensitive(model, torch.Generator().manual_seed(seed + 1), x)
    exact = copy.deepcopy(model).double()  # the same weights in f64: the f32 golden's own error
    meta = {"model": name, "arch": arch_of(name), "variant": "dcls" if "_dcls_" in name else "dsc",
            "dims": ",".join(map(str, dims)), "depths": ",".join(map(str, depths)),
            "num_classes": str(target.shape[1]), "input": "input.safetensors", "init": INIT_NOTE, **versions}
    weights = os.path.join(out_dir, f"{name}.weights.safetensors")
    save_model(model, weights, metadata=dict(meta))

    # The round trip the engine relies on: one P/SIG per stage on disk, all aliases restored on load.
    sd = model.state_dict()
    stored = load_file(weights)
    assert all(torch.equal(stored[k], sd[k]) for k in stored) and len(stored) <= len(sd)

    out = run(model, x, target)
    ref = run(exact, x.double(), target.double())

    # Gradients that are zero in exact arithmetic, and the BN-scale-invariant ones, are named for the test.
    grads = [k for k in out if k.startswith("grad.")]
    biggest = max(ref[k].abs().max().item() for k in grads)
    zero = [n for n, _ in model.named_parameters() if ZERO_GRAD.fullmatch(n)]
    for n in zero:
        if ref[f"grad.{n}"].abs().max().item() > 1e-12 * biggest:
            sys.exit(f"gen_model_golden: {name}: the gradient of {n} is not zero in f64")
    invariant = bn_invariant(model)
    meta["zero_grads"] = ",".join(zero)
    meta["bn_invariant_grads"] = ",".join(invariant)
    plain = [k for k in grads if k[5:] not in zero and k[5:] not in invariant]
    worst = max(plain, key=lambda k: rel(out[k], ref[k]))
    torch_err = (f"eval logits {rel(out['logits'], ref['logits']):.1e}, loss {rel(out['loss'], ref['loss']):.1e}, "
                 f"worst gradient {rel(out[worst], ref[worst]):.1e} ({worst[5:]})")
    if invariant:
        torch_err += ", BN-scale-invariant gradients up to " + (
            f"{max(rel(out[f'grad.{n}'], ref[f'grad.{n}']) for n in invariant):.1e}")
    meta["torch_f32_vs_f64"] = torch_err

    gpath = os.path.join(out_dir, f"{name}.golden.safetensors")
    save_file({k: v.contiguous() for k, v in out.items()}, gpath, metadata=meta)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {weights} ({len(stored)} of {len(sd)} state-dict keys, {n_params:,} parameters) and {gpath}: "
          f"loss {out['loss'].item():.6f}, |logits|max {out['logits'].abs().max().item():.4f}\n"
          f"  PyTorch f32 vs f64: {torch_err}")


def default_full_dir():
    env = os.environ.get("ENGINE_FULL_GOLDEN_DIR")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "dcls-engine", "model_golden")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ref", help="path of a clone of K-H-Ismail/DCLS-Audio")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                                   "data", "models"))
    ap.add_argument("--full", action="store_true", help="also the full-size convnext_dcls_audio_tiny golden")
    ap.add_argument("--full-out", default=default_full_dir(),
                    help="directory of the full-size golden (default $ENGINE_FULL_GOLDEN_DIR or "
                         "~/.cache/dcls-engine/model_golden); not committed")
    ap.add_argument("--force", action="store_true", help="accept timm/DCLS versions other than the pinned ones")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()

    logging.disable(logging.WARNING)  # DCLS logs a fallback warning for every Dcls2d built on a CPU
    versions = check_versions(args.force)
    paper = import_paper_models(args.ref)
    torch.set_num_threads(1)  # single-threaded CPU: bit-identical values on a rerun
    print("checking the builder against timm.create_model at the paper's sizes:")
    for name in NAMES:
        verify_builder(paper, name)

    gen = torch.Generator().manual_seed(args.seed)
    x = synthetic_logmel(gen)
    target = soft_target(gen, 2, SMALL_CLASSES)
    os.makedirs(args.out, exist_ok=True)
    write_input(args.out, x, target, args.seed)
    for i, name in enumerate(NAMES):
        depths, dims = SMALL_SIZE[arch_of(name)]
        golden(paper, name, depths, dims, x, target, args.out, args.seed + 10 * i, versions)

    if args.full:
        torch.set_num_threads(os.cpu_count() or 1)
        os.makedirs(args.full_out, exist_ok=True)
        target = soft_target(gen, 2, 527)
        write_input(args.full_out, x, target, args.seed)
        depths, dims = PAPER_SIZE["convnext"]
        golden(paper, "convnext_dcls_audio_tiny", depths, dims, x, target, args.full_out, args.seed + 100, versions)


if __name__ == "__main__":
    main()
