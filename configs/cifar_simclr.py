r"""SimCLR on CIFAR-10 (Chen et al. 2020; the baseline of Sordoni et al. 2021, Sec. 5.2.2).

    python -m trainers.train --config configs/cifar_simclr.py --workdir runs/cifar_simclr
    python tools/linear_eval.py --workdir runs/cifar_simclr --dataset cifar10

ResNet-50, CIFAR variant (3x3 stride-1 stem, no max-pool), SimCLR v1 projection head
(2048 -> BN -> ReLU -> 128), NT-Xent with the cosine critic at tau = 0.5 and the 2N - 2
negatives of the global batch (gathered across replicas, synchronised batch norm).
Views: Inception crop + flip, resized to 32 x 32, and colour distortion (dataset
"cifar10_views"). Optimisation as Sordoni et al. state it: SGD, momentum 0.9, learning
rate 0.5 at batch 800 (used as given: ``lr_scaling="none"``; it equals a base rate of
0.16 under the linear B/256 rule), cosine annealing after 10 warm-up epochs; weight
decay 1e-6 on the convolution and dense kernels only (SimCLR's value; the paper gives
none). Neither paper states the CIFAR-10 epochs for these numbers: SimCLR's CIFAR-10
runs go up to 1000 epochs, our default (``epochs=1000``: 62,500 steps of 800 images).

What it should reach (linear evaluation of the frozen backbone): 94.0% top-1 (Chen et
al. 2020b, as quoted by Sordoni et al.); SimCLR + DEMI (configs/cifar_simclr_demi.py)
94.7%; a supervised ResNet-50 95.1%.

Arguments: ``epochs=N``, ``batch=B``, ``lars`` (LARS instead of SGD, same rate),
``depth=18|50``, ``runlocal`` (ResNet-18 of width 8, batch 16, 6 steps: a CPU smoke
run), ``synthetic`` (random images instead of CIFAR-10: no download). Switches:
``--config.mixed_precision=mixed_float16|mixed_bfloat16``, ``--config.jit_compile=true``,
``--config.strategy=mirrored|multiworker|tpu``.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(arg, epochs=1000, batch=800, depth=50, lars=False, runlocal=False, synthetic=False)
    return common.cifar_config("cifar_simclr", "simclr", args)
