r"""Evaluation over training: every kept checkpoint of a run, as the paper's curves need.

Tschannen et al. (2020) plot, against the training iteration, the test accuracy of a
linear classifier on g_1(x_top) and the testing value of I_EST (Figures 1-4, 6-9; 20
runs each, "reported on the testing set"). The trainer keeps a checkpoint at every
evaluation point (``checkpoint_every`` = 1,000 steps for MNIST, the notebook's
``n_evals = 21``); ``evaluate_checkpoints`` turns them into that curve:

1. the model of WORKDIR/config.json is rebuilt by ``tfmi.models.run.build_run``, as
   the trainer builds it;
2. for each kept checkpoint WORKDIR/checkpoints/ckpt-N (N = the training step), the
   model's variables are restored (``expect_partial``: the optimizer's slots are not
   needed);
3. the top halves of the training and test images (MNIST or CIFAR-10, with the run's
   coupled noise, one fixed draw of ``data_seed``) are encoded with g_1 (the model's
   ``evaluated_encoder``) and the linear evaluation of
   ``tfmi.evaluation.linear_eval`` runs with the notebook's defaults (min-max scaling,
   SAGA, C = 10, tol = 0.1): test and train accuracy;
4. the run's bound is evaluated by the model's own forward pass on held-out batches of
   the run's batch size drawn from the test split (a fixed permutation): "mi" is the
   mean of the per-batch I_EST (I_NCE, I_NWJ, ... whichever the run maximises), "loss"
   the objective (|I_EST - t| for the target runs of Sec. 3.3, Figures 7 and 9), and
   "bounds" the other estimators read off the same scores (only for a model that logs
   "mi": the adversarial model of Fig. 1c trains no estimator unless ``mi_weight`` > 0);
5. optionally (``jacobian_points``), log condition numbers of g_1's Jacobian at fixed
   test inputs, raw, so that a figure can pool them over runs as Figures 2c and 5 do.

Step 0, the initialisation, has no checkpoint; it is recreated (``include_init``) by
the same ``build_run`` (seeded with ``config.seed``), which gives the trainer's initial
weights.

The records go to WORKDIR/eval_curve.json, rewritten (atomically) after every
evaluated step, so a killed evaluation resumes where it stopped; a file written with
other settings (subset sizes, classifier, batches) is refused rather than mixed.

Reduced setting: ``num_train`` / ``num_test`` keep the first N training / test images
(MNIST's files are not sorted by digit). Encoding and fitting scale with the number of
images: ``num_train=10000`` with the full test set encodes 20,000 of the 70,000 images
of the full protocol, ``num_train=10000, num_test=2000`` 12,000 (a sixth). Accuracies
are then lower than the paper's, so compare them with the pixel baseline of the same
subset, which is stored beside the records: measured with the notebook's classifier,
the top-half pixels reach 84.9% with all images, 82.6% with 10,000 training images and
80.0% with 10,000 / 2,000 (the first 2,000 test digits are harder than the rest);
83.9%, 81.8% and 78.9% with the coupled noise.
"""

import json
import os
import time

import numpy as np

from tfmi import workdir as workdir_lib
from tfmi.console import Progress, progress
from tfmi.json_files import json_safe, write_json

__all__ = [
    "EVAL_CURVE",
    "HALVES_DATASETS",
    "build_run_model",
    "checkpoint_steps",
    "held_out_batches",
    "load_run_config",
    "read_eval_curve",
    "restore_checkpoint",
    "evaluate_checkpoints",
]

EVAL_CURVE = workdir_lib.EVAL_CURVE
HALVES_DATASETS = ("mnist_halves", "cifar10_halves")
FORMAT_VERSION = 1


def checkpoint_steps(workdir):
    """The kept checkpoints of a trainer workdir: a sorted list of (step, path prefix)
    (``tfmi.workdir.Workdir.checkpoint_steps``)."""
    return workdir_lib.Workdir(workdir).checkpoint_steps()


def load_run_config(workdir):
    """The ConfigDict of WORKDIR/config.json, checked to be an image-halves run.

    Raises ValueError naming the problem: no config.json, or a run whose data are not
    image halves (e.g. the non-i.i.d. Gaussians, whose estimates are in metrics.jsonl)
    or whose model has no g_1 to evaluate.
    """
    workdir = os.fspath(workdir)
    config = workdir_lib.Workdir(workdir).load_config()
    raw = config.to_dict()
    experiment = raw.get("experiment", "?")
    data_name = (raw.get("data") or {}).get("name")
    model_name = (raw.get("model") or {}).get("name")
    if data_name not in HALVES_DATASETS:
        raise ValueError(
            f"{workdir} is a {experiment!r} run on {data_name!r} data; the checkpoint evaluation "
            f"encodes image halves ({', '.join(HALVES_DATASETS)}) for a linear classifier. "
            "Runs without image halves (e.g. noniid_gaussian) log their estimates in "
            "metrics.jsonl: plot them with tools/plot_tschannen.py --figure noniid."
        )
    from tfmi.models import build_model

    # The model object only (no variables): whether it has a g_1 to evaluate.
    if build_model(config.model).evaluated_encoder is None:
        raise ValueError(
            f"{workdir} holds a {model_name!r} model without a top-half encoder g_1 (infomax: "
            "model.encoder_x is null), so there is no representation to evaluate; the linear "
            "evaluation of raw top halves is the pixel baseline."
        )
    return config


def read_eval_curve(path):
    """The contents of an eval_curve.json (a workdir or the file itself), or None when absent."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = workdir_lib.Workdir(path).eval_curve_path
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        try:
            curve = json.load(handle)
        except ValueError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); delete it to evaluate again.") from None
    if not isinstance(curve, dict) or not isinstance(curve.get("records"), list):
        raise ValueError(f"{path} is not an eval_curve.json (no 'records' list); delete it to evaluate again.")
    return curve





# ---------------------------------------------------------------------------------------
# The pieces


def _load_halves(config, split, noise_std, data_seed):
    from tfmi.data import cifar_halves, mnist_halves

    data = config.data
    if data.name == "mnist_halves":
        return mnist_halves.load_mnist_halves(
            split, source=data.get("source", "auto"), noise_std=noise_std, seed=data_seed,
            data_dir=data.get("data_dir") or None,
        )
    return cifar_halves.load_cifar10_halves(
        split, half_rows=data.get("half_rows", cifar_halves.HALF_ROWS), noise_std=noise_std,
        seed=data_seed, data_dir=data.get("data_dir") or None,
    )


def _subset(halves, count, what):
    if count is None:
        return halves
    if count < 1:
        raise ValueError(f"{what} must be >= 1, got {count}.")
    return type(halves)(*(array[:count] for array in halves))


def build_run_model(config):
    """The run's model with its variables, created by ``build_run`` as the trainer
    creates them, so that before any restore the weights are the run's step-0 weights.
    Returns (model, the encoder g_1).
    """
    from tfmi.models.run import build_run

    model = build_run(config).model
    return model, model.evaluated_encoder


def restore_checkpoint(model, path):
    """Restores the model's variables from a trainer checkpoint (optimizer slots skipped;
    ``tfmi.workdir.restore_model``)."""
    workdir_lib.restore_model(model, path)


def held_out_batches(test, batch_size, count=None, data_seed=0):
    """Held-out batches {"x": top, "y": bottom, "label": digit} for the MI estimate (the
    adversarial model's forward also reads the label).

    ``test``: a ``Halves`` (the evaluated test images). The rows are permuted with
    ``np.random.default_rng([data_seed, 7]).permutation(n)`` and cut into consecutive
    batches of ``batch_size`` (the run's); ``count`` of them (None: every full batch).
    """
    available = len(test.labels) // batch_size
    if available < 1:
        raise ValueError(
            f"the MI estimate needs at least one test batch of the run's batch size {batch_size}, "
            f"but only {len(test.labels)} test examples are evaluated: raise num_test, or pass "
            "mi_batches=0 to skip the estimate."
        )
    count = available if count is None else min(int(count), available)
    order = np.random.default_rng([int(data_seed), 7]).permutation(len(test.labels))
    batches = []
    for index in range(count):
        rows = order[index * batch_size : (index + 1) * batch_size]
        batches.append({"x": test.top[rows], "y": test.bottom[rows], "label": test.labels[rows]})
    return batches


def _evaluate_bounds(model, batches):
    """Mean (and spread over batches) of what the model's forward reports on each batch."""
    import tensorflow as tf

    forward = tf.function(lambda batch: model.forward(batch, training=False))
    values = {}
    for batch in batches:
        outputs = forward({key: tf.constant(value) for key, value in batch.items()})
        for name, value in outputs.items():
            values.setdefault(name, []).append(float(value))
    result = {
        "mi": float(np.mean(values["mi"])),
        "mi_std": float(np.std(values["mi"])),
        "loss": float(np.mean(values["loss"])),
        "mi_batches": len(batches),
        "bounds": {
            name[len("bound_"):]: float(np.mean(items))
            for name, items in values.items() if name.startswith("bound_")
        },
    }
    return result


def _condition_fn(encoder, x):
    """A function () -> log(sigma_max / sigma_min) of g_1's Jacobian at each row of ``x``.

    Traced once; each call reads the encoder's current (restored) variables.
    """
    import tensorflow as tf

    from tfmi.encoders import jacobian

    inputs = tf.constant(x, tf.float32)
    function = tf.function(lambda: jacobian.jacobian_condition_numbers(encoder, inputs, batch_size=32))

    def log_condition():
        with np.errstate(divide="ignore"):
            return np.log(function().numpy()).tolist()

    return log_condition


def _encode_fn(encoder, input_dim):
    """g_1 traced once for flat [b, input_dim] float32 inputs of any batch size b."""
    import tensorflow as tf

    function = tf.function(
        lambda x: encoder(x, training=False),
        input_signature=[tf.TensorSpec([None, input_dim], tf.float32)],
    )
    return lambda batch: function(tf.constant(batch, tf.float32)).numpy()


# ---------------------------------------------------------------------------------------
# The loop


def evaluate_checkpoints(
    workdir,
    *,
    every=None,
    num_train=None,
    num_test=None,
    include_init=True,
    pixels=True,
    mi_batches=None,
    jacobian_points=None,
    classifier=None,
    data_seed=0,
    encode_batch_size=1024,
    output=None,
    overwrite=False,
    progress=progress,
):
    """Evaluates every kept checkpoint of a Tschannen et al. (2020) run; returns the curve.

    Args:
      workdir: a trainer workdir of an image-halves run (config.json, checkpoints/).
      every: evaluate only the steps that are multiples of ``every`` (None: all).
      num_train, num_test: keep the first N training / test images (None: all; see the
        module docstring for the reduced setting).
      include_init: also evaluate step 0, the seeded initialisation.
      pixels: also fit the same classifier on the raw top halves (the pixel baseline of
        the same subset and noise), once per workdir.
      mi_batches: held-out test batches for the MI estimate (None: every full batch;
        0: no estimate).
      jacobian_points: test inputs at which to compute g_1's Jacobian condition numbers
        (None: 128 for runs that log them, i.e. ``model.log_condition_every`` > 0, else
        0 = none).
      classifier: keyword arguments of ``linear_eval.fit_linear_classifier`` (default:
        the notebook's min-max scaling, C = 10, tol = 0.1).
      data_seed: the draw of the coupled noise on the evaluated images and of the MI
        batches' permutation (the same for every run, so that runs are comparable).
      output: the JSON file (default WORKDIR/eval_curve.json).
      overwrite: start afresh even when ``output`` holds records of other settings.
      progress: a function of one string for progress lines (default: on stderr,
        ``tfmi.console.progress``; None: silent).

    Returns:
      The eval_curve dict: "settings", "pixel_baseline" and "records", one record per
      step, sorted: step, test_accuracy, train_accuracy, mi (the run's bound on test
      batches), mi_std, loss, bounds {infonce, nwj, dv, js}, log_condition (raw, when
      computed) and the classifier's n_iter / converged / fit_seconds.
    """
    from tfmi.evaluation import linear_eval

    progress = progress or Progress(quiet=True)
    workdir = os.fspath(workdir)
    config = load_run_config(workdir)
    run = workdir_lib.Workdir(workdir)
    if jacobian_points is None:
        jacobian_points = 128 if config.model.get("log_condition_every", 0) else 0
    steps = _selected_steps(workdir, run, every, include_init, mi_batches, jacobian_points)
    classifier = {**linear_eval.DEFAULT_CLASSIFIER, "seed": 0, **(classifier or {})}
    noise_std = float(config.data.get("noise_std", 0.0) or 0.0)
    settings = _curve_settings(config, noise_std, num_train, num_test, classifier, mi_batches, jacobian_points,
                               data_seed)
    output = output or run.eval_curve_path
    curve = _open_curve(output, settings, workdir, config, overwrite)
    done = {record["step"] for record in curve["records"]}
    todo = [(step, path) for step, path in steps if step not in done]
    if not todo and (curve.get("pixel_baseline") or not pixels):
        progress(f"{output}: every selected step ({len(steps)}) is already evaluated.")
        return curve

    start = time.time()
    train = _subset(_load_halves(config, "train", noise_std, data_seed), num_train, "num_train")
    test = _subset(_load_halves(config, "test", noise_std, data_seed), num_test, "num_test")
    progress(
        f"{workdir}: {config.experiment}, {len(train.labels)} train / {len(test.labels)} test "
        f"images (noise_std={noise_std:g}); {len(todo)} of {len(steps)} steps to evaluate "
        f"({time.time() - start:.1f} s to load)"
    )
    if pixels and not curve.get("pixel_baseline"):
        result = linear_eval.pixel_baseline(train, test, **classifier)
        curve["pixel_baseline"] = result.to_dict()
        write_json(curve, output)
        progress(f"  pixel baseline: test accuracy {result.accuracy:.4f} ({result.fit_seconds:.1f} s)")
    if todo:
        _evaluate_steps(
            config, curve, output, todo, train, test, classifier=classifier, mi_batches=mi_batches,
            jacobian_points=jacobian_points, data_seed=data_seed, encode_batch_size=encode_batch_size,
            progress=progress,
        )
    return curve


def _selected_steps(workdir, run, every, include_init, mi_batches, jacobian_points):
    """The (step, checkpoint path) pairs to evaluate, (0, None) for the initialisation;
    ValueError for an argument out of range or a selection of no step."""
    kept = run.checkpoint_steps()
    if not kept:
        raise ValueError(
            f"{workdir} holds no checkpoints (no {os.path.join(run.checkpoint_dir, 'ckpt-N.index')}): "
            "train the run first (python -m trainers.train --config ... --workdir "
            f"{workdir}); the trainer keeps one every config.checkpoint_every steps."
        )
    if every is not None and every < 1:
        raise ValueError(f"every must be >= 1, got {every}.")
    if mi_batches is not None and mi_batches < 0:
        raise ValueError(f"mi_batches must be >= 0, got {mi_batches}.")
    if jacobian_points < 0:
        raise ValueError(f"jacobian_points must be >= 0, got {jacobian_points}.")
    steps = [(step, path) for step, path in kept if every is None or step % every == 0]
    if include_init and all(step != 0 for step, _ in steps):
        steps = [(0, None)] + steps
    if not steps:
        raise ValueError(
            f"none of the kept checkpoints of {workdir} (steps {[s for s, _ in kept]}) is a "
            f"multiple of every={every}; lower --every."
        )
    return steps


def _curve_settings(config, noise_std, num_train, num_test, classifier, mi_batches, jacobian_points, data_seed):
    """What the records of an eval_curve.json depend on; a resumed file must match them."""
    return {
        "format": FORMAT_VERSION,
        "dataset": config.data.name,
        "noise_std": noise_std,
        "num_train": num_train,
        "num_test": num_test,
        "classifier": classifier,
        "mi_batch_size": int(config.batch_size),
        "mi_batches": mi_batches,
        "jacobian_points": int(jacobian_points),
        "data_seed": int(data_seed),
    }


def _open_curve(output, settings, workdir, config, overwrite):
    """The curve of ``output`` to resume (refused when made with other ``settings``),
    else a new one without records."""
    curve = None if overwrite else read_eval_curve(output)
    if curve is not None and json_safe(curve.get("settings")) != json_safe(settings):
        old = curve.get("settings") or {}
        changed = sorted(key for key in set(old) | set(settings)
                         if json_safe(old.get(key)) != json_safe(settings.get(key)))
        raise ValueError(
            f"{output} holds records evaluated with other settings ({', '.join(changed)} differ); "
            "pass overwrite=True (--overwrite) to start afresh, or another output file."
        )
    if curve is None:
        curve = {
            "workdir": os.path.abspath(workdir),
            "experiment": config.experiment,
            "seed": int(config.seed),
            "bound": (config.model.get("bound") or {}).get("name"),
            "target_mi": config.model.get("target_mi"),
            "settings": settings,
            "pixel_baseline": None,
            "records": [],
        }
    return curve


def _evaluate_steps(config, curve, output, todo, train, test, *, classifier, mi_batches, jacobian_points,
                    data_seed, encode_batch_size, progress):
    """Evaluates each (step, path) of ``todo`` in turn, adding its record to ``curve``
    and rewriting ``output`` after each."""
    model, encoder = build_run_model(config)
    batches = []
    if mi_batches != 0 and "mi" in model.metric_names:
        batches = held_out_batches(test, int(config.batch_size), mi_batches, data_seed)
    if jacobian_points:
        order = np.random.default_rng([int(data_seed), 11]).permutation(len(test.labels))
        jacobian_inputs = test.top[order[:jacobian_points]]
    log_condition = _condition_fn(encoder, jacobian_inputs) if jacobian_points else None
    encode = _encode_fn(encoder, int(train.top.shape[1]))
    timings = []
    for index, (step, path) in enumerate(todo):
        began = time.time()
        if path is not None:
            try:
                restore_checkpoint(model, path)
            except ValueError:
                if os.path.exists(f"{path}.index"):
                    raise
                # A trainer still running keeps only the newest checkpoints.
                progress(f"  step {step}: {path} was deleted meanwhile by the trainer; skipped")
                continue
        record = _classifier_record(step, path, encode, train, test, classifier, encode_batch_size)
        record.update(model.checkpoint_record(step))
        if batches:
            record.update(_evaluate_bounds(model, batches))
        if jacobian_points:
            record["log_condition"] = log_condition()
        record["seconds"] = time.time() - began
        curve["records"] = sorted(curve["records"] + [record], key=lambda r: r["step"])
        write_json(curve, output)
        timings.append(record["seconds"])
        remaining = (len(todo) - index - 1) * float(np.mean(timings))
        mi = f", I_EST {record['mi']:.3f}" if "mi" in record else ""
        progress(
            f"  step {step:>6d}: test accuracy {record['test_accuracy']:.4f} (train {record['train_accuracy']:.4f}){mi}"
            f" | {record['seconds']:.1f} s | {index + 1}/{len(todo)}, ETA {remaining / 60:.1f} min"
        )


def _classifier_record(step, path, encode, train, test, classifier, encode_batch_size):
    """The record of one step: the linear classifier on g_1's features of ``train`` and ``test``."""
    from tfmi.evaluation import linear_eval

    train_features = linear_eval.encode(encode, train.top, encode_batch_size)
    test_features = linear_eval.encode(encode, test.top, encode_batch_size)
    result = linear_eval.fit_linear_classifier(
        train_features, train.labels, test_features, test.labels, **classifier
    )
    return {
        "step": int(step),
        "source": "checkpoint" if path else "init",
        "test_accuracy": result.accuracy,
        "train_accuracy": result.train_accuracy,
        "n_iter": result.n_iter,
        "converged": result.converged,
        "fit_seconds": result.fit_seconds,
    }
