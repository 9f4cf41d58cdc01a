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

import math

import ml_collections

from tfmi.config_utils import base_config, import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")

# The arguments (configs/cifar_simclr_demi.py takes the same) and their defaults.
ARGS = dict(epochs=1000, batch=800, depth=50, lars=False, runlocal=False, synthetic=False)


def get_config(arg=None):
    args = parse_arg(arg, **ARGS)
    return common.cifar_options(full_size(args), args)


def full_size(args):
    """The run before the ``runlocal`` and ``synthetic`` options."""
    config = base_config("cifar_simclr")
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = common.CIFAR10_TRAIN_IMAGES / config.batch_size
    config.total_steps = math.ceil(config.epochs * steps_per_epoch)

    config.data = ml_collections.ConfigDict()
    config.data.name = "cifar10_views"
    config.data.data_dir = ""
    config.data.download = True  # as tfds: fetch CIFAR-10 on first use (false: fail offline at once)
    config.data.image_size = 32
    config.data.color_strength = 0.5  # SimCLR's colour distortion strength on CIFAR-10
    config.data.subview = ""  # no x'
    config.data.subview_size = 0

    config.model = ml_collections.ConfigDict()
    config.model.name = "simclr"
    config.model.method = "simclr"
    config.model.backbone = dict(
        name="resnet", depth=args["depth"], variant="cifar", width=64, synchronized_bn=True
    )
    config.model.temperature = 0.5
    config.model.proj_dim = 128
    config.model.proj_hidden = 2048
    config.model.proj_layers = 1
    config.model.synchronized_bn = True
    config.model.num_classes = 10  # a linear probe on detached features, logged as probe_acc

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "lars" if args["lars"] else "sgd"
    config.optimizer.learning_rate = 0.5  # at batch 800, used as given
    config.optimizer.lr_scaling = "none"
    config.optimizer.momentum = 0.9
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_steps = math.ceil(10 * steps_per_epoch)  # 10 epochs
    config.optimizer.weight_decay = 1e-6
    config.optimizer.weight_decay_exclude = ["gamma", "beta", "bias"]

    config.update(common.CIFAR_TRAINER)
    return config
