r"""DEMI on ImageNet with InfoMin and a MoCo memory: Sordoni et al. (2021), Sec. 5.2.1,
Listing 1, Table 1.

    python -m trainers.train --config configs/imagenet_demi.py:subview=crop --workdir runs/imagenet_demi
    python tools/linear_eval.py --workdir runs/imagenet_demi --dataset imagenet2012

Maximises I_NCE(x'; y) + I_BO(x; y | x') + I_NCE(x; y) + I_BO(x'; y | x) with the BO
heads reusing the unconditional logits detached (tfmi.models.MoCoModel, method "demi";
terms logged as nce_x_y, nce_xp_y, bo_x_xp, bo_xp_x). x' is a subview of x: ``crop``
(random resized crop, scale (0.05, 0.14), 96 x 96; the default and the better one) or
``cut`` (cutout of x). Setup (configs/sordoni2021/common.py): ResNet-50,
ImageNet variant, InfoMin's settings as their code sets them: MLP head 2048-128, queue
K = 65,536, EMA 0.999, temperature 0.15, SGD momentum 0.9, lr 0.03 x B/256, weight
decay 1e-4, cosine, 200 epochs, batch 256.

What it should reach (Table 1, linear evaluation top-1, mean of 3 seeds): IN1K 70.8%
(crop; 70.5% with cut), against InfoMin 70.1% and InfoMin (multi) 70.2%; transfer
STL10 96.4, C10 92.8, C100 75.0, Cars 51.8, CUB 43.6, Flowers 95.0. ImageNet-100:
configs/imagenet100_demi.py (78.6%).

Arguments: subview=crop|cut, epochs, batch, queue, t, depth=50|18, runlocal (ResNet-18
of width 8, 32 x 32 images, batch 8, queue 32, 6 steps), synthetic (random images, no
ImageNet needed: ``runlocal,synthetic`` runs anywhere). Switches:
``--config.mixed_precision=mixed_float16``, ``--config.strategy=mirrored|multiworker``.
ImageNet must be prepared for tfds (imagenet2012, manual download of the two tar files).
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, subview="crop", epochs=200, batch=256, queue=65536, t=0.15, depth=50, runlocal=False, synthetic=False
    )
    config = common.imagenet_config(f"imagenet_demi_{args['subview']}", "demi", "imagenet2012", args)
    config.paper_top1 = 70.8  # Table 1: linear-evaluation top-1 (%), IN1K with the crop subview
    return config
