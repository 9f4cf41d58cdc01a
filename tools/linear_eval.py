r"""Linear evaluation of a trained encoder, and the pixel baselines (Tschannen et al. 2020).

    python tools/linear_eval.py --workdir runs/mnist_mlp            # the run's encoder_x
    python tools/linear_eval.py --workdir runs/mnist_mlp --pixels   # ... and the pixel baselines
    python tools/linear_eval.py --pixels                            # pixel baselines only
    python tools/linear_eval.py --export path/to/saved_model        # any SavedModel encoder

Encodes the top halves of the training and test digits with the frozen encoder,
fits scikit-learn's SAGA logistic regression on all training representations and
prints the test accuracy; ``--pixels`` adds the same classifier on the raw top-half
pixels, clean and with the coupled noise (paper: about 85% and 84% on MNIST, about
24% clean on CIFAR-10). The dataset and its noise default to the workdir's
config.json (data.name, data.noise_std); the classifier defaults to the authors'
notebook (min-max scaling, C=10, tol=0.1). The results go to WORKDIR/linear_eval.json
(or --output). Bad input ends with one "error: ..." line and exit status 2.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmi.console import Progress, run_reporting_errors  # noqa: E402
from tfmi.data import cifar_halves, mnist_halves  # noqa: E402
from tfmi.evaluation import linear_eval as le  # noqa: E402
from tfmi.workdir import Workdir  # noqa: E402

DATASETS = ("mnist_halves", "cifar10_halves")
PROGRESS = Progress(stdout=True)  # progress lines, on stdout with the results: the tool's output is its log

# Trainer datasets of image views -> the labelled set their encoder is evaluated on.
VIEW_DATASETS = {"cifar10_views": "cifar10", "imagenet_views": "imagenet2012", "imagenet100_views": "imagenet100"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", help="trainer workdir: its export/<endpoint> is evaluated, its config.json read")
    parser.add_argument("--export", help="a SavedModel (or export) directory to evaluate instead of --workdir's")
    parser.add_argument("--endpoint", default=None,
                        help="which exported encoder (default: encoder_x, g_1 of the top half; encoder for image sets)")
    parser.add_argument("--signature", default=None,
                        help="serving signature (default: serving_default / serve / the only one)")
    parser.add_argument("--output_key", default=None, help="the signature's output to use, when it has several")
    parser.add_argument("--pixels", action="store_true", help="also report the pixel baselines (clean and noisy)")
    parser.add_argument("--dataset", choices=DATASETS + le.IMAGE_DATASETS, default=None,
                        help="default: the workdir config's data.name (cifar10 for cifar10_views), else mnist_halves. "
                        "Image sets (Table 1 of Sordoni et al.) are encoded with export/encoder")
    parser.add_argument("--classifier", choices=le.CLASSIFIERS, default="auto",
                        help="image sets: scikit-learn, a Keras linear layer on cached features, or auto "
                        f"(Keras from {le.KERAS_FROM} training images on)")
    parser.add_argument("--keras_epochs", type=int, default=30, help="epochs of the Keras linear classifier")
    parser.add_argument("--keras_lr", type=float, default=0.1, help="learning rate of the Keras linear classifier")
    parser.add_argument("--train_split", default=None,
                        help="image sets: the training split (default: train; train+validation for flowers)")
    parser.add_argument("--test_split", default=None,
                        help="image sets: the test split (default: test; validation for ImageNet)")
    parser.add_argument("--source", default="auto", choices=mnist_halves.SOURCES, help="MNIST source (default auto)")
    parser.add_argument("--data_dir", default=None, help="tensorflow_datasets data dir")
    parser.add_argument("--half_rows", type=int, default=None, help="CIFAR-10 rows per half (default: config or 16)")
    parser.add_argument("--noise_std", type=float, default=None,
                        help="coupled noise on the evaluated inputs (default: the config's data.noise_std, else 0)")
    parser.add_argument("--noisy_pixels_std", type=float, default=mnist_halves.NOISE_STD,
                        help="noise of the noisy pixel baseline (default 0.05, the paper's)")
    parser.add_argument("--num_train", type=int, default=None, help="use only the first N training examples")
    parser.add_argument("--num_test", type=int, default=None, help="use only the first N test examples")
    parser.add_argument("--scaler", choices=le.SCALERS, default=le.DEFAULT_CLASSIFIER["scaler"])
    parser.add_argument("--C", type=float, default=le.DEFAULT_CLASSIFIER["C"], help="inverse L2 strength")
    parser.add_argument("--tol", type=float, default=le.DEFAULT_CLASSIFIER["tol"], help="SAGA stopping tolerance")
    parser.add_argument("--max_iter", type=int, default=le.DEFAULT_CLASSIFIER["max_iter"], help="SAGA epochs at most")
    parser.add_argument("--batch_size", type=int, default=1024, help="encoding batch size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and of SAGA's shuffling")
    parser.add_argument("--output", default=None, help="JSON file for the results (default WORKDIR/linear_eval.json)")
    args = parser.parse_args(argv)
    if not (args.workdir or args.export or args.pixels):
        parser.error("give --workdir or --export (an encoder to evaluate), or --pixels (the baselines only).")
    return args


def read_config(workdir):
    """The workdir's config.json as a dict ({} when there is none)."""
    return Workdir(workdir).read_config() or {}


def load_split(dataset, split, noise_std, args, config_data):
    if dataset == "mnist_halves":
        return mnist_halves.load_mnist_halves(
            split, source=args.source, noise_std=noise_std, seed=args.seed, data_dir=args.data_dir
        )
    half_rows = args.half_rows or config_data.get("half_rows") or cifar_halves.HALF_ROWS
    return cifar_halves.load_cifar10_halves(
        split, half_rows=half_rows, noise_std=noise_std, seed=args.seed, data_dir=args.data_dir
    )


def subset(halves, count):
    if count is None:
        return halves
    if count < 1:
        raise ValueError(f"--num_train / --num_test must be >= 1, got {count}.")
    return type(halves)(*(array[:count] for array in halves))


def describe(name, result):
    state = "" if result.converged else ", stopped by --max_iter"
    return (
        f"{name:<28s} test accuracy {result.accuracy:.4f} (train {result.train_accuracy:.4f}; "
        f"{result.feature_dim} features, {result.n_iter} SAGA epochs{state}, {result.fit_seconds:.1f} s)"
    )


def labelled_images(name, split, image_size, data_dir):
    """tf.data of (image in [0, 1], label) (tfmi.data.vision_eval.labelled_images)."""
    from tfmi.data import vision_eval

    return vision_eval.labelled_images(name, split, image_size=image_size, data_dir=data_dir)


def default_splits(name):
    """(train, test) splits of an image set: tfmi.data.vision_eval.EVAL_SPLITS."""
    from tfmi.data import vision_eval

    return vision_eval.EVAL_SPLITS[name]


def run_images(args, dataset):
    """Linear evaluation of export/encoder on an image set (cifar10, ..., imagenet2012)."""
    if args.pixels:
        raise ValueError("--pixels is for the halves datasets; image sets have no pixel baseline here.")
    if not (args.workdir or args.export):
        raise ValueError(f"--dataset {dataset} needs an encoder: give --workdir or --export.")
    encoder = le.load_encoder(args.export or args.workdir, endpoint=args.endpoint or "encoder",
                              signature=args.signature, output=args.output_key)
    if len(encoder.input_shape) != 3:
        raise ValueError(
            f"the encoder at {encoder.path} takes inputs of shape {list(encoder.input_shape)}, not [H, W, 3] images."
        )
    image_size = encoder.input_shape[0]
    train_split, test_split = default_splits(dataset)
    train_split, test_split = args.train_split or train_split, args.test_split or test_split
    start = time.time()
    train = labelled_images(dataset, train_split, image_size, args.data_dir)
    test = labelled_images(dataset, test_split, image_size, args.data_dir)
    classifier = {"scaler": args.scaler, "C": args.C, "tol": args.tol, "max_iter": args.max_iter, "seed": args.seed}
    keras_options = {"epochs": args.keras_epochs, "learning_rate": args.keras_lr, "seed": args.seed}
    result = le.evaluate_images(
        encoder, train, test, classifier=args.classifier, batch_size=args.batch_size,
        num_train=args.num_train, num_test=args.num_test, keras_options=keras_options, **classifier,
    )
    PROGRESS(f"encoded {dataset} {train_split}/{test_split} at {image_size}x{image_size} with {encoder.path} "
             f"({time.time() - start:.1f} s)")
    print(describe(f"encoder on {dataset}", result), flush=True)
    results = {"dataset": dataset, "encoder": encoder.path, "classifier": result.settings,
               "results": {"encoder": result.to_dict()}}
    output = args.output or (Workdir(args.workdir).linear_eval_path(dataset) if args.workdir else None)
    if output:
        with open(output, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {output}")
    return results


def run(args):
    config = read_config(args.workdir) if args.workdir else {}
    config_data = config.get("data", {}) or {}
    dataset = args.dataset or VIEW_DATASETS.get(config_data.get("name")) or config_data.get("name") or "mnist_halves"
    if dataset in le.IMAGE_DATASETS:
        return run_images(args, dataset)
    args.endpoint = args.endpoint or "encoder_x"
    if dataset not in DATASETS:
        raise ValueError(
            f"the workdir's data.name is {dataset!r}; linear evaluation supports {list(DATASETS)} (--dataset)."
        )
    noise_std = args.noise_std if args.noise_std is not None else float(config_data.get("noise_std", 0.0) or 0.0)
    classifier = {"scaler": args.scaler, "C": args.C, "tol": args.tol, "max_iter": args.max_iter, "seed": args.seed}
    encoder = None
    if args.workdir or args.export:
        encoder = le.load_encoder(args.export or args.workdir, endpoint=args.endpoint, signature=args.signature,
                                  output=args.output_key)

    results = {"dataset": dataset, "classifier": classifier, "results": {}}
    cache = {}

    def data(noise):
        if noise not in cache:
            start = time.time()
            train = subset(load_split(dataset, "train", noise, args, config_data), args.num_train)
            test = subset(load_split(dataset, "test", noise, args, config_data), args.num_test)
            PROGRESS(f"loaded {dataset} (noise_std={noise:g}): {len(train.labels)} train, {len(test.labels)} test "
                     f"examples of {train.top.shape[1]} values ({time.time() - start:.1f} s)")
            cache[noise] = (train, test)
        return cache[noise]

    if encoder is not None:
        train, test = data(noise_std)
        start = time.time()
        train_features = le.encode(encoder, train.top, args.batch_size)
        test_features = le.encode(encoder, test.top, args.batch_size)
        PROGRESS(f"encoded with {encoder.path} ({time.time() - start:.1f} s)")
        result = le.fit_linear_classifier(train_features, train.labels, test_features, test.labels, **classifier)
        print(describe(f"encoder (noise_std={noise_std:g})", result), flush=True)
        results["encoder"] = encoder.path
        results["results"]["encoder"] = {"noise_std": noise_std, **result.to_dict()}
    if args.pixels:
        for name, noise in (("pixels_clean", 0.0), ("pixels_noisy", args.noisy_pixels_std)):
            train, test = data(noise)
            result = le.pixel_baseline(train, test, **classifier)
            print(describe(f"pixels (noise_std={noise:g})", result), flush=True)
            results["results"][name] = {"noise_std": noise, **result.to_dict()}

    output = args.output or (Workdir(args.workdir).linear_eval_path() if args.workdir else None)
    if output:
        with open(output, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {output}")
    return results


def main(argv=None):
    run_reporting_errors(run, parse_args(argv))


if __name__ == "__main__":
    main()
