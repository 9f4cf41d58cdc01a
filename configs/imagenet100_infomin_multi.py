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

import math

import ml_collections

from tfmi.config_utils import base_config, import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, subview="crop", epochs=200, batch=256, queue=65536, t=0.15, depth=50, runlocal=False, synthetic=False
    )
    subview = common.check_subview(args["subview"])
    config = base_config("imagenet100_infomin_multi")
    config.paper_top1 = 77.2  # Table 1: linear-evaluation top-1 (%), ImageNet-100
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = common.IMAGENET_TRAIN_IMAGES["imagenet100"] / config.batch_size
    config.total_steps = math.ceil(config.epochs * steps_per_epoch)

    config.data = ml_collections.ConfigDict()
    config.data.name = "imagenet_views"  # InfoMin's augmentations
    config.data.dataset = "imagenet100"
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
    config.model.method = "infomin_multi"
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
    if args["runlocal"]:
        common.imagenet_runlocal(config)
    if args["synthetic"]:
        common.synthetic_views(config, num_classes=100)
    return config
