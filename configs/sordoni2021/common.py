"""Shared pieces of the configs of Sordoni et al. (2021), "Decomposed Mutual Information
Estimation for Contrastive Representation Learning" (DEMI, ICML 2021).

Each config writes its own data, model and optimizer sections, batch and length; this
file holds only what every config of a family shares: the datasets' sizes, the GPT-2
sizes, the trainer's cadence, the check of the ImageNet ``subview`` argument, the
``runlocal`` shrinking and the ``synthetic`` data swap. The families: configs/imagenet*_{infomin,infomin_multi,demi}.py (Sec. 5.2.1),
configs/cifar_simclr*.py (Sec. 5.2.2) and configs/dialogue_*.py (Sec. 5.3 / App. B). A
config loads this file with ``import_beside(__file__, "sordoni2021/common.py")``.
configs/demi_synthetic.py (Sec. 5.1) needs none of it.
"""

import ml_collections

from tfmi.config_utils import apply_runlocal

# Training images, for epochs -> steps.
IMAGENET_TRAIN_IMAGES = {"imagenet2012": 1_281_167, "imagenet100": 126_689}
CIFAR10_TRAIN_IMAGES = 50_000

# The small offline GPT-2 (preset ""), trained from scratch on the chitchat corpus, and
# the tiny one of ``runlocal``. GPT-2's vocabulary (50,257 BPE tokens) in both.
DIALOGUE_SMALL_GPT2 = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024)
DIALOGUE_TINY_GPT2 = dict(num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)

# The trainer's fields of each family: loop and logging cadence, checkpoints (2 kept),
# export of the trained model; the vision runs in float32 without XLA
# (``--config.mixed_precision``, ``--config.jit_compile`` switch them).
VISION_TRAINER = dict(
    mixed_precision="", jit_compile=False, steps_per_loop=100, log_every=100, keep_checkpoints=2, export=True
)
IMAGENET_TRAINER = dict(VISION_TRAINER, checkpoint_every=5000, histogram_every=25000)
CIFAR_TRAINER = dict(VISION_TRAINER, checkpoint_every=2500, histogram_every=12500)
DIALOGUE_TRAINER = dict(
    steps_per_loop=50, log_every=100, checkpoint_every=1000, histogram_every=5000, keep_checkpoints=2, export=True
)

SUBVIEWS = ("crop", "cut")


def check_subview(subview):
    """The ImageNet configs' ``subview`` argument, checked: x' is a "crop" or a "cut" of x."""
    if subview not in SUBVIEWS:
        raise ValueError(f"subview must be crop or cut, got {subview!r}.")
    return subview


def imagenet_runlocal(config):
    """Shrinks an ImageNet config to a CPU smoke run (in place): ResNet-18 of width 8,
    32 x 32 images (16 x 16 subviews), head 32-16, queue 32, batch 8, 6 steps."""
    apply_runlocal(config, steps=6, batch_size=8)
    config.data.image_size = 32
    config.data.subview_size = 16
    config.model.backbone.update(depth=18, width=8)
    config.model.head_hidden = (32,)
    config.model.head_dim = 16
    config.model.queue_size = 32
    config.optimizer.warmup_steps = 0
    return config


def cifar_runlocal(config):
    """Shrinks a CIFAR-10 config to a CPU smoke run (in place): ResNet-18 of width 8,
    projection 64-32, learning rate 0.1 after 2 warm-up steps, batch 16, 6 steps."""
    apply_runlocal(config, steps=6, batch_size=16)
    config.model.backbone.update(depth=18, width=8)
    config.model.proj_hidden = 64
    config.model.proj_dim = 32
    config.optimizer.warmup_steps = 2
    config.optimizer.learning_rate = 0.1
    return config


def dialogue_runlocal(config):
    """Shrinks a dialogue config to a CPU smoke run (in place): the tiny GPT-2, short
    sequences, 8 dialogues, 3 sampled negatives, batch 4, 4 steps."""
    config.data.max_utterance_tokens = 16
    config.data.max_past_tokens = 48
    config.data.max_future_tokens = 24
    config.data.num_negatives = 3
    config.data.max_dialogues = 8
    config.data.pad_to_multiple = 0
    config.model.backbone.update(DIALOGUE_TINY_GPT2, max_sequence_length=80)
    apply_runlocal(config, steps=4, batch_size=4)
    return config


def synthetic_views(config, num_classes):
    """Swaps a vision config's data for random images of its size (in place): no
    dataset needed. The subview x', if any, keeps its size: data.subview_size for a
    "crop", the whole image for a "cut"."""
    size = config.data.image_size
    sub_size = {"": 0, "crop": config.data.subview_size, "cut": size}[config.data.subview]
    config.data = ml_collections.ConfigDict(
        dict(name="synthetic_views", image_size=size, sub_size=sub_size, num_classes=num_classes)
    )
    return config
