r"""Linear evaluation and test I_EST of every kept checkpoint of a Tschannen et al. (2020) run.

    python tools/eval_checkpoints.py --workdir runs/mnist_invertible/nce/seed_0
    python tools/eval_checkpoints.py --workdir runs/mnist_invertible/nce/seed_0 --every 2000
    # the reduced setting (the first 10,000 training digits, all 10,000 test digits:
    # 2/7 of the images; pixel baseline 82.6% instead of 84.9%, stored beside the records):
    python tools/eval_checkpoints.py --workdir DIR --num_train 10000
    # every workdir of a sweep (ROOT/ARG/seed_N), one after the other:
    python tools/eval_checkpoints.py --workdir runs/mnist_critic_capacity/*/seed_*

For each checkpoint WORKDIR/checkpoints/ckpt-N (and step 0, the seeded initialisation)
the model of WORKDIR/config.json is restored, the top halves of the training and test
images are encoded with g_1 and a linear classifier (SAGA, the notebook's min-max
scaling, C = 10, tol = 0.1) is fitted on the training codes; the run's bound (I_NCE,
I_NWJ, ...) is evaluated on held-out test batches of the run's batch size. One record
per step goes to WORKDIR/eval_curve.json (step, test_accuracy, train_accuracy, mi,
loss, ...), written after every step: run the same command again to resume a killed
evaluation, or to add the checkpoints a still-running trainer has written since. The
pixel baseline of the same images is stored beside the records.
tools/plot_tschannen.py draws the paper's figures from these files.

Works for runs of configs/mnist_*.py and configs/cifar10_halves.py (image halves);
other runs (e.g. configs/noniid_gaussian.py) are refused with a pointer to their
metrics.jsonl. Bad input ends with one "error: ..." line and exit status 2. See
tfmi/evaluation/checkpoints.py for what each number is.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmi.console import Progress, run_reporting_errors  # noqa: E402
from tfmi.evaluation import checkpoints  # noqa: E402
from tfmi.evaluation import linear_eval as le  # noqa: E402
from tfmi.workdir import Workdir  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", required=True, nargs="+", help="trainer workdir(s) of image-halves runs")
    parser.add_argument("--every", type=int, default=None,
                        help="evaluate only steps that are multiples of N (default: every kept checkpoint)")
    parser.add_argument("--num_train", type=int, default=None,
                        help="use only the first N training images (reduced setting)")
    parser.add_argument("--num_test", type=int, default=None, help="use only the first N test images (reduced setting)")
    parser.add_argument("--no_init", action="store_true", help="skip step 0 (the seeded initialisation)")
    parser.add_argument("--no_pixels", action="store_true", help="skip the pixel baseline")
    parser.add_argument("--mi_batches", type=int, default=None,
                        help="test batches for I_EST (default: all full batches; 0: none)")
    parser.add_argument("--jacobian_points", type=int, default=None,
                        help="test inputs for g_1's Jacobian condition numbers "
                             "(default: 128 for runs that log them, else 0)")
    parser.add_argument("--scaler", choices=le.SCALERS, default=le.DEFAULT_CLASSIFIER["scaler"])
    parser.add_argument("--C", type=float, default=le.DEFAULT_CLASSIFIER["C"], help="inverse L2 strength")
    parser.add_argument("--tol", type=float, default=le.DEFAULT_CLASSIFIER["tol"], help="SAGA stopping tolerance")
    parser.add_argument("--max_iter", type=int, default=le.DEFAULT_CLASSIFIER["max_iter"], help="SAGA epochs at most")
    parser.add_argument("--data_seed", type=int, default=0, help="draw of the coupled noise and of the MI batches")
    parser.add_argument("--output", default=None, help="JSON file (default WORKDIR/eval_curve.json; one workdir only)")
    parser.add_argument("--overwrite", action="store_true", help="discard records evaluated with other settings")
    args = parser.parse_args(argv)
    if args.output and len(args.workdir) > 1:
        parser.error("--output names one file: give one --workdir with it.")
    return args


def run(args):
    classifier = {"scaler": args.scaler, "C": args.C, "tol": args.tol, "max_iter": args.max_iter}
    curves = []
    for workdir in args.workdir:
        curve = checkpoints.evaluate_checkpoints(
            workdir,
            every=args.every,
            num_train=args.num_train,
            num_test=args.num_test,
            include_init=not args.no_init,
            pixels=not args.no_pixels,
            mi_batches=args.mi_batches,
            jacobian_points=args.jacobian_points,
            classifier=classifier,
            data_seed=args.data_seed,
            output=args.output,
            overwrite=args.overwrite,
            progress=Progress(stdout=True),  # on stdout, with the lines that name what was written
        )
        print(f"wrote {args.output or Workdir(workdir).eval_curve_path} ({len(curve['records'])} steps)", flush=True)
        curves.append(curve)
    return curves


def main(argv=None):
    run_reporting_errors(run, parse_args(argv))


if __name__ == "__main__":
    main()
