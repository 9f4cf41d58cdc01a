r"""InfoMin on ImageNet with a MoCo memory: the baseline of Sordoni et al. (2021),
Sec. 5.2.1, Table 1 (Tian et al. 2020).

    python -m trainers.train --config configs/imagenet_infomin.py --workdir runs/imagenet_infomin
    python tools/linear_eval.py --workdir runs/imagenet_infomin --dataset imagenet2012

Maximises I_NCE(x; y) between two InfoMin views (tfmi.models.MoCoModel, method
"infomin"; logged as nce_x_y). Setup (get_config below): ResNet-50, ImageNet
variant, MLP head 2048-128, queue K = 65,536, EMA 0.999, temperature 0.15 (InfoMin's
code), SGD momentum 0.9, lr 0.03 x B/256, weight decay 1e-4, cosine, 200 epochs,
batch 256.

What it should reach (Table 1, linear evaluation top-1): IN1K 70.1% (transfer: STL10
96.2, C10 92.0, C100 73.2, Cars 48.1, CUB 41.7, Flowers 93.2). ImageNet-100:
configs/imagenet100_infomin.py (74.9%).

Arguments: epochs, batch, queue, t, depth=50|18, runlocal, synthetic (as
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
    common.check_subview(args["subview"])  # the argument of the DEMI configs; InfoMin has no x'
    config = base_config("imagenet_infomin")
    config.paper_top1 = 70.1  # Table 1: linear-evaluation top-1 (%), IN1K
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = common.IMAGENET_TRAIN_IMAGES["imagenet2012"] / config.batch_size
    config.total_steps = math.ceil(config.epochs * steps_per_epoch)

    config.data = ml_collections.ConfigDict()
    config.data.name = "imagenet_views"  # InfoMin's augmentations
    config.data.dataset = "imagenet2012"
    config.data.image_size = 224
    config.data.subview = ""  # no x'
    config.data.subview_size = 96
    config.data.cutout_size = 0  # 0: the data's default (half the image side)
    config.data.randaugment_magnitude = 10.0
    config.data.jigsaw = False  # InfoMin's JigsawCrop branch is not part of MoCoModel
    config.data.data_dir = ""
    config.data.manual_dir = ""
    config.data.download = False  # true: prepare from the tar files in manual_dir on first use (hours)

    config.model = ml_collections.ConfigDict()
    config.model.name = "moco"
    config.model.method = "infomin"
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
        common.synthetic_views(config, num_classes=1000)
    return config
