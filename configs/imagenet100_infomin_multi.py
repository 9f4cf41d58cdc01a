r"""InfoMin (multi) on ImageNet-100 with a MoCo memory: Sordoni et al. (2021), Sec. 5.2.1, Table 1.

    python -m trainers.train --config configs/imagenet100_infomin_multi.py --workdir runs/imagenet100_infomin_multi
    python tools/linear_eval.py --workdir runs/imagenet100_infomin_multi --dataset imagenet100

Everything as configs/imagenet_infomin_multi.py, on the 100-class subset of CMC / InfoMin
(tfmi/data/imagenet100_classes.txt; about 126,689 training images, so 200 epochs are
~99,000 steps of 256).

What it should reach (Table 1, linear evaluation top-1, mean of 3 seeds): 77.2%
(InfoMin 74.9%, InfoMin (multi) 77.2%, DEMI 78.6 +- 0.2%).

Arguments: subview=crop|cut, epochs, batch, queue, t, depth=50|18, runlocal, synthetic (as
configs/imagenet_demi.py).
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
in1k = import_beside(__file__, "imagenet_infomin_multi.py")


def get_config(arg=None):
    args = parse_arg(arg, **in1k.ARGS)
    config = in1k.full_size(args, dataset="imagenet100")
    config.experiment = "imagenet100_infomin_multi"
    config.paper_top1 = 77.2  # Table 1: linear-evaluation top-1 (%), ImageNet-100
    return common.imagenet_options(config, args)
