r"""Image augmentations of SimCLR (CIFAR-10) and InfoMin (ImageNet), and DEMI's subviews.

Every op takes ONE image, float32 [H, W, 3] in [0, 1], and (where random) a stateless
seed: an int tensor of shape [2]. Same image + same seed -> same output, bit for bit;
all randomness comes from ``tf.random.stateless_*`` draws on sub-seeds of that seed
(``tf.random.experimental.stateless_split``), so the ops run inside a parallel
``tf.data`` map with no Python per-image work. Outputs stay in [0, 1].

Views (DEMI Sec. 5.2):

* ``simclr_view``: SimCLR's CIFAR-10 view: Inception crop (random resized crop with
  area fraction s ~ U(0.08, 1) and aspect ratio r with log r ~ U(log 3/4, log 4/3),
  resized to 32 x 32), horizontal flip (p = 1/2), colour distortion of strength s:
  colour jitter (brightness 0.8s, contrast 0.8s, saturation 0.8s, hue 0.2s, in a
  random order) with p = 0.8, then grayscale with p = 0.2. No blur (SimCLR's CIFAR
  setting).
* ``infomin_view``: InfoMin's ImageNet view (PyContrast ``aug == 'D'``, the MoCo
  setting): random resized crop to 224 with s ~ U(0.2, 1), flip, colour jitter
  (0.8, 0.8, 0.8, 0.2) with p = 0.8, Gaussian blur (23-tap kernel, sigma ~ U(0.1, 2))
  with p = 0.5, RandAugment (N = 2 ops, magnitude M = 10 with noise std 0.5, each op
  applied with p = 0.5, InfoMin's 15 ops), colour drop (grayscale) with p = 0.2.
* ``jigsaw_patches``: InfoMin's JigsawCrop view: random resized crop to 255 with
  s ~ U(0.6, 1), flip, then one random 64 x 64 crop inside each cell of a 3 x 3 grid
  of 85 x 85 cells -> [9, 64, 64, 3]. InfoMin returns the 9 patches in grid order
  and its jigsaw head consumes them as a set; here the patches come out in a random
  (seeded) order: the 3 x 3 tiles shuffled. ``tile_patches`` lays them out again as
  one [192, 192, 3] image for a model that wants a single jigsaw image.
* ``subview_crop`` / ``cutout``: the subview x' of an augmented view x. "crop": a
  random resized crop of x with s ~ U(0.05, 0.14) resized to 96 x 96 (the paper's
  torchvision RandomResizedCrop with scale (0.05, 0.14)); "cut": cutout of x (a
  square of side ``size`` centred at a uniform pixel, clipped at the border, set
  to 0). x' is a function of x alone (plus independent randomness), so
  I(x, x'; y) = I(x; y).

Differences from the PyTorch/PIL originals, all deliberate: images are float (PIL
works on uint8, so posterize/solarize/equalize quantise to 256 levels first);
resizing is bilinear (PIL picks bilinear or bicubic at random in RandAugment);
contrast and saturation blend with the grayscale image as PIL/torchvision do, hue
uses ``tf.image.adjust_hue``.

Modules: ``primitives`` (seeds, crops, flips, colour, blur), ``randaugment`` (InfoMin's
RandAugment), ``policies`` (the SimCLR, InfoMin and jigsaw views) and ``subviews``
(DEMI's x'); ``tfmi.data.augment.NAME`` reaches every public name.
"""

from tfmi.data.augment.policies import infomin_view, jigsaw_patches, simclr_view, tile_patches
from tfmi.data.augment.primitives import (
    center_crop_resize,
    color_distortion,
    color_jitter,
    gaussian_blur,
    random_apply,
    random_flip,
    random_resized_crop,
    sample_crop_box,
    split_seed,
    to_grayscale,
)
from tfmi.data.augment.randaugment import IMAGENET_MEAN_RGB, RAND_AUGMENT_OPS, RAND_AUGMENT_OPS_ALL, rand_augment
from tfmi.data.augment.subviews import cutout, subview_crop

__all__ = [
    "IMAGENET_MEAN_RGB",
    "RAND_AUGMENT_OPS",
    "RAND_AUGMENT_OPS_ALL",
    "split_seed",
    "random_apply",
    "sample_crop_box",
    "random_resized_crop",
    "random_flip",
    "color_jitter",
    "color_distortion",
    "to_grayscale",
    "gaussian_blur",
    "rand_augment",
    "jigsaw_patches",
    "tile_patches",
    "cutout",
    "subview_crop",
    "simclr_view",
    "infomin_view",
    "center_crop_resize",
]
