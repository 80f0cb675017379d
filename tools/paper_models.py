"""Shared by tools/gen_train_golden.py, tools/train_reference.py and tools/bench_reference.py: imports the
training code of a K-H-Ismail/DCLS-Audio clone (utils.py, optim_factory.py) next to its models (through
gen_model_golden.import_paper_models), creates the paper's optimiser with its parameter groups, and maps our
config's (arch, variant) to the paper's model names. Writes nothing.

utils.py imports three modules that the paper's runs needed but that do nothing for the functions used here
(cosine_scheduler, batch_mixup_fn): `hostlist` (SLURM node lists), `tensorboardX` (logging) and `torch._six`
(removed from torch 2; only its `inf` is read). When they are missing, stand-ins are registered for them
before the import; nothing of the clone is copied or changed.
"""
import argparse
import contextlib
import io
import json
import math
import os
import sys
import types

from gen_model_golden import import_paper_models

DEFAULT_REF = os.environ.get("DCLS_AUDIO", "/tmp/DCLS-Audio")  # the clone, unless --ref says otherwise

MODEL_NAMES = {  # (arch, variant) -> the timm name registered by the paper's models package
    ("convnext", "dsc"): "convnext_audio_tiny", ("convnext", "dcls"): "convnext_dcls_audio_tiny",
    ("convformer", "dsc"): "convformer_audio_s18", ("convformer", "dcls"): "convformer_dcls_audio_s18",
    ("fastvit", "dsc"): "fastvit_audio_sa24", ("fastvit", "dcls"): "fastvit_dcls_audio_sa24",
}

_STAND_INS = {"hostlist": {}, "tensorboardX": {"SummaryWriter": None}, "torch._six": {"inf": math.inf}}


def import_paper_training(ref_dir):
    """Returns (models, utils, optim_factory) of the clone: `models` as gen_model_golden.import_paper_models
    gives it ({"convnext": module, "convformer": module, "fastvit": module}), the other two modules as is."""
    models = import_paper_models(ref_dir)  # checks the clone and puts it first on sys.path
    for name, attrs in _STAND_INS.items():
        try:
            __import__(name)
        except ImportError:
            stand_in = types.ModuleType(name)
            stand_in.__dict__.update(attrs)
            sys.modules[name] = stand_in
    import optim_factory
    import utils

    ref_dir = os.path.abspath(ref_dir)
    for mod in (utils, optim_factory):
        if not os.path.abspath(mod.__file__).startswith(ref_dir + os.sep):
            sys.exit(f"paper_models: imported {mod.__name__} from {mod.__file__}, not from {ref_dir}")
    return models, utils, optim_factory


def create_paper_optimizer(optim_factory, model, opt, lr, weight_decay=0.05, eps=1e-8, betas=None):
    """The optimiser exactly as main.py creates it: optim_factory.create_optimizer(args, model,
    skip_list=None) (so the skip list is model.no_weight_decay() where the model has one), no layer decay.
    `betas` None keeps the optimiser's default, as main.py's --opt_betas default does. Returns
    (optimizer, groups): groups is what get_parameter_groups prints, {group name: {"weight_decay",
    "params": [parameter names], "lr_scale"}}, in the order of optimizer.param_groups."""
    args = argparse.Namespace(opt=opt, lr=lr, weight_decay=weight_decay, opt_eps=eps, opt_betas=betas,
                              momentum=0.9)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        optimizer = optim_factory.create_optimizer(args, model, skip_list=None)
    groups = json.loads(printed.getvalue().split("Param groups = ", 1)[1])
    if [g["lr_scale"] for g in groups.values()] != [g["lr_scale"] for g in optimizer.param_groups]:
        sys.exit("paper_models: the printed parameter groups do not match optimizer.param_groups")
    return optimizer, groups
