r"""InfoMin (multi) on ImageNet: Sordoni et al. (2021), Sec. 5.2.1, Table 1.

    python -m trainers.train --config configs/imagenet_infomin_multi.py --workdir runs/imagenet_infomin_multi
    python tools/linear_eval.py --workdir runs/imagenet_infomin_multi --dataset imagenet2012

Maximises I_NCE(x; y) + I_NCE(x'; y): the subview x' as one more view, no conditional
term (tfmi.models.MoCoModel, method "infomin_multi"; logged as nce_x_y, nce_xp_y). x'
as in DEMI: ``subview=crop`` (default; 96 x 96, scale (0.05, 0.14)) or ``cut``. Setup
as configs/imagenet_infomin.py, that is configs/imagenet_demi.py with another loss.

What it should reach (Table 1, linear evaluation top-1): IN1K 70.2% (transfer: STL10
95.9, C10 92.6, C100 74.5, Cars 49.2, CUB 42.1, Flowers 94.7). ImageNet-100:
configs/imagenet100_infomin_multi.py (77.2%).

Arguments: subview=crop|cut, epochs, batch, queue, t, depth=50|18, runlocal, synthetic
(as configs/imagenet_demi.py).
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
demi = import_beside(__file__, "imagenet_demi.py")

ARGS = demi.ARGS


def get_config(arg=None):
    args = parse_arg(arg, **ARGS)
    return common.imagenet_options(full_size(args), args)


def full_size(args, dataset="imagenet2012"):
    """configs/imagenet_demi.py's run on ``dataset``, x' and all, without the conditional
    terms."""
    config = demi.full_size(args, dataset)
    config.experiment = "imagenet_infomin_multi"
    config.paper_top1 = 70.2  # Table 1: linear-evaluation top-1 (%), IN1K
    config.model.method = "infomin_multi"
    return config
