r"""SimCLR + DEMI on CIFAR-10: Sordoni et al. (2021), Sec. 5.2.2 and Listing 1. The flagship.

    python -m trainers.train --config configs/cifar_simclr_demi.py --workdir runs/cifar_simclr_demi
    python tools/linear_eval.py --workdir runs/cifar_simclr_demi --dataset cifar10

Everything as configs/cifar_simclr.py (ResNet-50 CIFAR variant, lr 0.5, batch 800,
momentum 0.9, cosine schedule, tau 0.5), plus the subview x' of x (data.subview
"crop": an aggressive random crop of x resized to data.subview_size = 16) and the loss of
Listing 1 with in-batch candidates (tfmi.models.simclr, tfmi.bounds.demi_listing1_loss):

    loss = I_NCE(x; y) + I_NCE(x'; y) + I_BO(x; y | x') + I_BO(x'; y | x)   (as losses)

each term logged (nce_x_y, nce_xp_y, bo_x_xp, bo_xp_x) beside SimCLR's NT-Xent.

What it should reach: 94.7% top-1 linear evaluation (paper), against 94.0% for SimCLR
and 95.1% supervised. Same arguments as configs/cifar_simclr.py (``runlocal``,
``synthetic``, ``epochs``, ``batch``, ``lars``, ``depth``).
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
simclr = import_beside(__file__, "cifar_simclr.py")


def get_config(arg=None):
    args = parse_arg(arg, **simclr.ARGS)
    config = simclr.full_size(args)
    config.experiment = "cifar_simclr_demi"
    config.data.subview = "crop"  # x': an aggressive random crop of x,
    config.data.subview_size = 16  # resized to 16 x 16
    config.model.method = "simclr_demi"
    return common.cifar_options(config, args)
