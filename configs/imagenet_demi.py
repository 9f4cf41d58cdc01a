r"""DEMI on ImageNet with InfoMin and a MoCo memory: Sordoni et al. (2021), Sec. 5.2.1,
Listing 1, Table 1.

    python -m trainers.train --config configs/imagenet_demi.py:subview=crop --workdir runs/imagenet_demi
    python tools/linear_eval.py --workdir runs/imagenet_demi --dataset imagenet2012

Maximises I_NCE(x'; y) + I_BO(x; y | x') + I_NCE(x; y) + I_BO(x'; y | x) with the BO
heads reusing the unconditional logits detached (tfmi.models.MoCoModel, method "demi";
terms logged as nce_x_y, nce_xp_y, bo_x_xp, bo_xp_x). x' is a subview of x: ``crop``
(random resized crop, scale (0.05, 0.14), 96 x 96; the default and the better one) or
``cut`` (cutout of x). Setup (full_size below; the other configs/imagenet*.py build
on it): ResNet-50, ImageNet variant, InfoMin's settings as their code sets them: MLP head 2048-128, queue
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

import math

import ml_collections

from tfmi.config_utils import base_config, import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")

# The arguments (the ImageNet variants take the same) and their defaults.
ARGS = dict(
    subview="crop", epochs=200, batch=256, queue=65536, t=0.15, depth=50, runlocal=False, synthetic=False
)


def get_config(arg=None):
    args = parse_arg(arg, **ARGS)
    return common.imagenet_options(full_size(args), args)


def full_size(args, dataset="imagenet2012"):
    """The run on ``dataset`` (imagenet2012, or imagenet100 for configs/imagenet100_*.py),
    before the ``runlocal`` and ``synthetic`` options."""
    subview = common.check_subview(args["subview"])
    config = base_config(f"imagenet_demi_{subview}")
    config.paper_top1 = 70.8  # Table 1: linear-evaluation top-1 (%), IN1K with the crop subview
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = common.IMAGENET_TRAIN_IMAGES[dataset] / config.batch_size
    config.total_steps = math.ceil(config.epochs * steps_per_epoch)

    config.data = ml_collections.ConfigDict()
    config.data.name = "imagenet_views"  # InfoMin's augmentations
    config.data.dataset = dataset
    config.data.image_size = 224
    config.data.subview = subview  # x': "crop" (scale (0.05, 0.14), 96 x 96) or "cut" (a cutout of x)
    config.data.subview_size = 96
    config.data.cutout_size = 0  # 0: the data's default (half the image side)
    config.data.randaugment_magnitude = 10.0
    config.data.jigsaw = False  # InfoMin's JigsawCrop branch is not part of MoCoModel
    config.data.data_dir = ""
    config.data.manual_dir = ""
    config.data.download = False  # true: prepare from the tar files in manual_dir on first use (hours)

    config.model = ml_collections.ConfigDict()
    config.model.name = "moco"
    config.model.method = "demi"
    config.model.backbone = dict(
        name="resnet", depth=args["depth"], variant="imagenet", width=64, synchronized_bn=True
    )
    config.model.head_hidden = (2048 if args["depth"] >= 50 else 512,)  # the backbone's feature size
    config.model.head_dim = 128
    config.model.queue_size = args["queue"]  # K keys in the MoCo memory
    config.model.momentum = 0.999  # the key encoder's EMA
    config.model.temperature = args["t"]
    config.model.queue_seed = 0

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.03
    config.optimizer.lr_scaling = "linear"  # 0.03 * B / 256
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 1e-4
    config.optimizer.schedule = "cosine"
    # A 5-epoch warm-up above batch 256 only.
    config.optimizer.warmup_steps = math.ceil(5 * steps_per_epoch) if config.batch_size > 256 else 0

    config.update(common.IMAGENET_TRAINER)
    return config
