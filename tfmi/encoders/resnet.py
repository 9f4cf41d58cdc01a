"""ResNet-18 / ResNet-50 backbones for images in [0, 1].

Why not keras.applications or keras-hub: ``keras.applications.ResNet50`` fixes the
7x7/2 stem, max-pool and biased convolutions; keras-hub's ``ResNetBackbone`` (0.32)
configures the stem's kernel and filters but always adds the 3x3/2 max-pool, and
neither offers synchronised (cross-replica) batch norm. The CIFAR variant of SimCLR
(Chen et al. 2020, App. B.9; Sordoni et al. 2021, Sec. 5.2.2) needs both changes, so the
network is written here, compact, in the layout of He et al. (2016, v1.5: stride in the
3x3 convolution of a bottleneck).

Variants:

    "imagenet"  7x7 conv stride 2 -> BN -> ReLU -> 3x3 max-pool stride 2
    "cifar"     3x3 conv stride 1 -> BN -> ReLU           (no max-pool)

then four stages of ``blocks`` residual blocks (basic for ResNet-18, bottleneck x4 for
ResNet-50) with widths w, 2w, 4w, 8w (w = ``width``, 64 in the papers) and strides
1, 2, 2, 2, and global average pooling. Features: 8w = 512 (ResNet-18) or 32w = 2048
(ResNet-50). Convolutions have no bias (batch norm follows); the last BN of each block
starts at gamma = 0 (Goyal et al. 2017; ``zero_init_residual``), as SimCLR's ResNet does.

Inputs are float32 images [B, H, W, 3] in [0, 1]; the model subtracts the ImageNet
channel mean and divides by its standard deviation itself, so an export takes raw
[0, 1] images. ``synchronized_bn=True`` computes batch statistics over the global batch
of all replicas (SimCLR's "global BN"); it equals plain BN on one replica.
"""

import keras

from tfmi.layers import batch_norm

__all__ = ["ResNet", "RESNET_DEPTHS", "VARIANTS", "IMAGENET_MEAN", "IMAGENET_STD"]

# depth -> (block type, blocks per stage)
RESNET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
}
VARIANTS = ("cifar", "imagenet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv(filters, kernel, stride, name):
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=name,
    )


def _block(x, filters, stride, kind, bn, name):
    """One residual block: basic (3x3, 3x3) or bottleneck (1x1, 3x3 stride, 1x1 x4)."""
    out_filters = filters * (4 if kind == "bottleneck" else 1)
    shortcut = x
    if stride != 1 or x.shape[-1] != out_filters:
        shortcut = _conv(out_filters, 1, stride, f"{name}_proj_conv")(x)
        shortcut = bn(f"{name}_proj_bn")(shortcut)
    if kind == "basic":
        y = _conv(filters, 3, stride, f"{name}_conv1")(x)
        y = keras.layers.ReLU(name=f"{name}_relu1")(bn(f"{name}_bn1")(y))
        y = _conv(filters, 3, 1, f"{name}_conv2")(y)
        y = bn(f"{name}_bn2", zero_init=True)(y)
    else:
        y = _conv(filters, 1, 1, f"{name}_conv1")(x)
        y = keras.layers.ReLU(name=f"{name}_relu1")(bn(f"{name}_bn1")(y))
        y = _conv(filters, 3, stride, f"{name}_conv2")(y)
        y = keras.layers.ReLU(name=f"{name}_relu2")(bn(f"{name}_bn2")(y))
        y = _conv(out_filters, 1, 1, f"{name}_conv3")(y)
        y = bn(f"{name}_bn3", zero_init=True)(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


class ResNet(keras.Model):
    """ResNet-``depth`` (18, 34, 50, 101) backbone: images [B, H, W, 3] in [0, 1] ->
    pooled features [B, 8 * width] (basic blocks) or [B, 32 * width] (bottleneck).

    ``variant``: "cifar" (3x3/1 stem, no max-pool) or "imagenet" (7x7/2 stem, max-pool).
    ``width``: channels of the first stage (64 = the standard network; 8 or 16 give a
    tiny network for smoke runs). ``synchronized_bn``: batch statistics over all
    replicas. ``bn_momentum``: moving-average momentum of the batch norm statistics.
    ``image_size``: fixes H = W in the input spec (None: any size).
    ``zero_init_residual``: start each block's last BN at gamma = 0 (the block starts
    as the identity; its other weights then get no gradient at the first step).
    """

    def __init__(
        self,
        depth=50,
        variant="cifar",
        width=64,
        synchronized_bn=False,
        bn_momentum=0.9,
        image_size=None,
        zero_init_residual=True,
        **kwargs,
    ):
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"ResNet: depth must be one of {sorted(RESNET_DEPTHS)}, got {depth!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"ResNet: variant must be one of {list(VARIANTS)}, got {variant!r}.")
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"ResNet: width must be a positive integer, got {width!r}.")
        unknown = sorted(set(kwargs) - {"name", "trainable", "dtype"})
        if unknown:  # keras.Model would drop a misspelt argument silently
            raise TypeError(f"ResNet got unexpected keyword arguments {unknown}.")
        kind, blocks = RESNET_DEPTHS[depth]

        def bn(name, zero_init=False):
            return batch_norm(name, synchronized_bn, bn_momentum, zero_init and zero_init_residual)

        inputs = keras.Input((image_size, image_size, 3), name="images")
        # (x - mean) / std per channel, in the compute dtype (float16 under mixed precision).
        x = keras.layers.Normalization(
            mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD], name="normalize"
        )(inputs)
        if variant == "imagenet":
            x = _conv(width, 7, 2, "stem_conv")(x)
            x = keras.layers.ReLU(name="stem_relu")(bn("stem_bn")(x))
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
        else:
            x = _conv(width, 3, 1, "stem_conv")(x)
            x = keras.layers.ReLU(name="stem_relu")(bn("stem_bn")(x))
        for stage, count in enumerate(blocks):
            for index in range(count):
                stride = 2 if stage > 0 and index == 0 else 1
                x = _block(x, width * 2**stage, stride, kind, bn, f"stage{stage + 1}_block{index + 1}")
        features = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        name = kwargs.pop("name", f"resnet{depth}_{variant}")
        super().__init__(inputs=inputs, outputs=features, name=name, **kwargs)
        self.depth = depth
        self.variant = variant
        self.width = width
        self.synchronized_bn = synchronized_bn
        self.bn_momentum = bn_momentum
        self.image_size = image_size
        self.zero_init_residual = zero_init_residual

    @property
    def output_dim(self):
        """Features per image: 8 * width (basic blocks) or 32 * width (bottleneck)."""
        return int(self.outputs[0].shape[-1])

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "depth": self.depth,
            "variant": self.variant,
            "width": self.width,
            "synchronized_bn": self.synchronized_bn,
            "bn_momentum": self.bn_momentum,
            "image_size": self.image_size,
            "zero_init_residual": self.zero_init_residual,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def resnet18(**kwargs):
    """ResNet-18 (basic blocks, 512 features at width 64)."""
    return ResNet(depth=18, **kwargs)


def resnet50(**kwargs):
    """ResNet-50 (bottleneck blocks, 2048 features at width 64)."""
    return ResNet(depth=50, **kwargs)
