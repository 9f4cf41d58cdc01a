"""Input-pipeline throughput of the vision views, on this machine's CPU (no model).

    PYTHONPATH=. python tools/bench_vision_input.py [--batch 256] [--batches 20]

Prints images/s (source images per second; each gives two views, plus x' where a
subview is set) for

* CIFAR-10 SimCLR views (32 x 32, colour strength 0.5) from 5,000 random uint8
  images in memory (the same code path as ``cifar10_views`` after tfds has loaded
  the 50,000 training images);
* ImageNet InfoMin views (224 x 224, RandAugment N=2 M=10, blur, crop subview 96)
  from random JPEGs of 500 x 375 pixels (about ImageNet's mean size) in memory:
  decoding and augmentation, not disk reads.

The number to compare with a training step's images/s: when the pipeline is slower,
the run is input bound (add CPU cores, or lower the augmentation cost).
"""

import argparse
import os
import time

import numpy as np
import tensorflow as tf

from tfmi.data import cifar_views, imagenet_views


def _throughput(dataset, batch, batches, warmup=2):
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batch * batches / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--imagenet_batch", type=int, default=32)
    parser.add_argument("--imagenet_batches", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"CPU cores visible: {os.cpu_count()}")

    images = rng.integers(0, 256, (5000, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5000)
    for subview in (None, "crop", "cut"):
        dataset = cifar_views.simclr_views_from_arrays(images, labels, args.batch, subview=subview)
        rate = _throughput(dataset, args.batch, args.batches)
        print(f"cifar10_views  subview={str(subview):5s} batch={args.batch:4d}: {rate:9.0f} images/s")

    encoded = [
        tf.io.encode_jpeg(tf.constant(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8))).numpy()
        for _ in range(64)
    ]
    stream = imagenet_views.memory_stream(encoded, np.zeros(64, np.int32), args.imagenet_batch)
    for jigsaw in (False,):
        dataset = imagenet_views.infomin_views(stream, args.imagenet_batch, subview="crop", jigsaw=jigsaw)
        rate = _throughput(dataset, args.imagenet_batch, args.imagenet_batches, warmup=1)
        print(f"imagenet_views subview=crop  batch={args.imagenet_batch:4d}: {rate:9.1f} images/s")


if __name__ == "__main__":
    main()
