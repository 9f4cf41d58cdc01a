r"""InfoMin on ImageNet with a MoCo memory: the baseline of Sordoni et al. (2021),
Sec. 5.2.1, Table 1 (Tian et al. 2020).

    python -m trainers.train --config configs/imagenet_infomin.py --workdir runs/imagenet_infomin
    python tools/linear_eval.py --workdir runs/imagenet_infomin --dataset imagenet2012

Maximises I_NCE(x; y) between two InfoMin views (tfmi.models.MoCoModel, method
"infomin"; logged as nce_x_y). Setup as configs/imagenet_demi.py, without the subview
x': ResNet-50, ImageNet variant, MLP head 2048-128, queue K = 65,536, EMA 0.999,
temperature 0.15 (InfoMin's code), SGD momentum 0.9, lr 0.03 x B/256, weight decay
1e-4, cosine, 200 epochs, batch 256.

What it should reach (Table 1, linear evaluation top-1): IN1K 70.1% (transfer: STL10
96.2, C10 92.0, C100 73.2, Cars 48.1, CUB 41.7, Flowers 93.2). ImageNet-100:
configs/imagenet100_infomin.py (74.9%).

Arguments: epochs, batch, queue, t, depth=50|18, runlocal, synthetic (as
configs/imagenet_demi.py).
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
demi = import_beside(__file__, "imagenet_demi.py")

ARGS = demi.ARGS  # subview is checked, as in the DEMI configs, but InfoMin has no x'


def get_config(arg=None):
    args = parse_arg(arg, **ARGS)
    return common.imagenet_options(full_size(args), args)


def full_size(args, dataset="imagenet2012"):
    """configs/imagenet_demi.py's run on ``dataset`` with InfoMin's loss and no x'."""
    config = demi.full_size(args, dataset)
    config.experiment = "imagenet_infomin"
    config.paper_top1 = 70.1  # Table 1: linear-evaluation top-1 (%), IN1K
    config.data.subview = ""  # no x'
    config.model.method = "infomin"
    return config
