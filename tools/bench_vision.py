r"""Speed and memory of the vision training steps (SimCLR, SimCLR + DEMI, MoCo/InfoMin/DEMI).

    python tools/bench_vision.py --quick                      # < 2 min on a CPU: ResNet-18 small
    python tools/bench_vision.py --batch_sizes 64,128,256     # the configs' own backbones
    python tools/bench_vision.py --mixed_precision mixed_float16 --jit   # on a GPU

For each config and global batch size B (one device), one training step of the
config's model on a fixed batch of its own shapes (synthetic images: compute only):
images/s (source images per second; each has 2 views, 3 with x'), milliseconds per
step, peak memory (GPU: TensorFlow's allocator peak; CPU: the process's peak RSS so
far), and the ratio of the SSL step to a supervised step of the same backbone on the
same B images (one view, linear layer, cross-entropy on the labels): two views
should cost about twice one view. Then the input pipeline alone (the config's real
dataset, which needs the data on disk; else "n/a" and why): images/s, so a user
sees whether data or compute bounds a run. Prints markdown tables and writes JSON.

``--quick``: ResNet-18 of width 8 on 32 x 32 images, B in {8, 16}, 3 timed steps.
Not a test: numbers depend on the machine.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfmi import encoders  # noqa: E402
from tfmi.config_utils import load_config  # noqa: E402
from tfmi.data import build_dataset  # noqa: E402
from tfmi.evaluation.benchmarking import peak_memory_mib  # noqa: E402
from tfmi.models import MODELS  # noqa: E402
from tfmi.models.run import build_run, run_optimizer  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIMCLR_CONFIGS = ("cifar_simclr", "cifar_simclr_demi")
MOCO_CONFIGS = ("imagenet_infomin", "imagenet_infomin_multi", "imagenet_demi")


def default_configs():
    """The SimCLR configs, and the MoCo ones when tfmi.models has the MoCo model."""
    names = list(SIMCLR_CONFIGS)
    if "moco" in MODELS:
        names += [n for n in MOCO_CONFIGS if os.path.exists(os.path.join(REPO, "configs", f"{n}.py"))]
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default=None, help="comma-separated config names (default: all vision configs)")
    parser.add_argument("--batch_sizes", default=None, help="comma-separated global batch sizes (default 64,128,256)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (tracing, autotuning)")
    parser.add_argument("--depth", type=int, default=None, help="override the backbone depth (18 or 50)")
    parser.add_argument("--width", type=int, default=None, help="override the backbone width (64 = standard)")
    parser.add_argument("--image_size", type=int, default=None, help="override the image size of the MoCo configs")
    parser.add_argument("--mixed_precision", default="", choices=("", "mixed_float16", "mixed_bfloat16"))
    parser.add_argument("--jit", action="store_true", help="XLA-compile the steps")
    parser.add_argument("--pipeline_batches", type=int, default=None,
                        help="batches timed for the input pipeline (default 20)")
    parser.add_argument("--data_dir", default=None, help="tfds data dir for the input-pipeline measurement")
    parser.add_argument("--quick", action="store_true",
                        help="ResNet-18 width 8, 32x32, B 8 and 16, 3 steps (< 2 min on CPU)")
    parser.add_argument("--output", default=None,
                        help="JSON output (default bench_vision.json, or bench_vision_quick.json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.depth = args.depth or 18
        args.width = args.width or 8
        args.image_size = args.image_size or 32
        args.batch_sizes = args.batch_sizes or "8,16"
        args.steps = args.steps or 3
        args.warmup = min(args.warmup, 1)
        args.pipeline_batches = args.pipeline_batches or 5
    args.batch_sizes = [int(b) for b in (args.batch_sizes or "64,128,256").split(",")]
    args.steps = 10 if args.steps is None else args.steps
    if args.warmup < 1 or args.steps < 1:
        parser.error(
            f"--warmup {args.warmup} and --steps {args.steps}: both must be >= 1 (the first step "
            "traces, and with --jit compiles, the function: it is never timed)."
        )
    args.pipeline_batches = args.pipeline_batches or 20
    args.configs = args.configs.split(",") if args.configs else default_configs()
    args.output = args.output or ("bench_vision_quick.json" if args.quick else "bench_vision.json")
    return args


def bench_config(name, args, batch_size, synthetic=True):
    """The config ``name`` at ``batch_size``, seed 0, with the overrides of ``args``."""
    config = load_config(os.path.join(REPO, "configs", f"{name}.py") + (":synthetic" if synthetic else ""))
    config.batch_size = batch_size
    config.seed = 0
    config.mixed_precision = args.mixed_precision
    backbone = dict(config.model.backbone)
    if args.depth:
        backbone["depth"] = args.depth
    if args.width:
        backbone["width"] = args.width
    config.model.backbone = backbone
    if "head_hidden" in config.model and (args.depth or args.width):
        features = (8 if backbone["depth"] < 50 else 32) * backbone["width"]
        config.model.head_hidden = (features,)
    if "proj_hidden" in config.model and (args.depth or args.width):
        config.model.proj_hidden = (8 if backbone["depth"] < 50 else 32) * backbone["width"]
    if "queue_size" in config.model:  # MoCo: the queue must hold a whole number of batches
        config.model.queue_size = max(batch_size, config.model.queue_size // batch_size * batch_size)
        if args.quick:
            config.model.queue_size = 8 * batch_size
    if args.image_size and "image_size" in config.data and config.data.image_size != args.image_size:
        old = config.data.image_size
        config.data.image_size = args.image_size
        if config.data.get("sub_size"):
            config.data.sub_size = (max(2, config.data.sub_size * args.image_size // old)
                                    if config.data.sub_size != old else args.image_size)
    return config


def _time_steps(step, inputs, args):
    for _ in range(args.warmup):
        out = step(*inputs)
    float(tf.nest.flatten(out)[0])
    start = time.perf_counter()
    for _ in range(args.steps):
        out = step(*inputs)
    float(tf.nest.flatten(out)[0])  # waits for the last step
    return (time.perf_counter() - start) / args.steps


def measure(name, args, batch_size):
    """One row: the SSL step and the supervised step of the same backbone on B images."""
    config = bench_config(name, args, batch_size)
    run = build_run(config)  # sets the dtype policy of args.mixed_precision
    model, batch = run.model, run.first_batch
    if tf.config.list_physical_devices("GPU"):  # the peak of this model's steps
        tf.config.experimental.reset_memory_stats("GPU:0")
    ssl_seconds = _time_steps(tf.function(model.train_step, jit_compile=args.jit), (batch,), args)
    memory, memory_kind = peak_memory_mib()

    backbone = encoders.get(**dict(config.model.backbone))
    num_classes = int(config.data.get("num_classes", 10))
    classifier = keras.layers.Dense(num_classes, dtype="float32")
    classifier.build((None, backbone.output_dim))
    sup_optimizer = run_optimizer(config)
    variables = backbone.trainable_variables + classifier.trainable_variables
    sup_optimizer.build(variables)

    def supervised_step(images, labels):
        with tf.GradientTape() as tape:
            logits = classifier(backbone(images, training=True))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
            scaled = sup_optimizer.scale_loss(loss)
        sup_optimizer.apply(tape.gradient(scaled, variables), variables)
        return loss

    sup_seconds = _time_steps(tf.function(supervised_step, jit_compile=args.jit), (batch["x"], batch["label"]), args)
    keras.mixed_precision.set_global_policy("float32")
    backbone_spec = config.model.backbone
    return {
        "config": name,
        "batch_size": batch_size,
        "backbone": f"resnet{backbone_spec['depth']}-w{backbone_spec['width']}-{backbone_spec['variant']}",
        "image_size": int(batch["x"].shape[1]),
        "views": sorted(k for k in batch if k != "label"),
        "step_ms": 1000 * ssl_seconds,
        "images_per_sec": batch_size / ssl_seconds,
        "peak_memory_mb": memory,
        "memory_kind": memory_kind,
        "supervised_step_ms": 1000 * sup_seconds,
        "ssl_over_supervised": ssl_seconds / sup_seconds,
    }


def pipeline_rate(name, args, batch_size):
    """Images/s of the config's real input pipeline alone, or the reason it cannot run."""
    try:
        config = bench_config(name, args, batch_size, synthetic=False)
        if args.data_dir and "data_dir" in config.data:
            config.data.data_dir = args.data_dir
        iterator = iter(build_dataset(config.data, batch_size, seed=0))
        next(iterator)
        start = time.perf_counter()
        for _ in range(args.pipeline_batches):
            next(iterator)
        seconds = time.perf_counter() - start
        return {"config": name, "dataset": config.data.name, "batch_size": batch_size,
                "images_per_sec": args.pipeline_batches * batch_size / seconds}
    except Exception as error:  # noqa: BLE001  (data not downloaded, ...): reported, not fatal
        message = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        return {"config": name, "batch_size": batch_size, "error": f"{type(error).__name__}: {message}"}


def markdown(rows, pipelines, args):
    gpus = tf.config.list_physical_devices("GPU")
    device = "GPU " + tf.config.experimental.get_device_details(gpus[0]).get("device_name", "") if gpus else "CPU"
    lines = [
        f"device: {device}"
        f" | precision: {args.mixed_precision or 'float32'} | XLA: {args.jit}",
        "",
        "| config | backbone | image | B | images/s | ms/step | peak MB | supervised ms/step | SSL / supervised |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['config']} | | | {r['batch_size']} | error: {r['error']} | | | | |")
            continue
        lines.append(
            f"| {r['config']} | {r['backbone']} | {r['image_size']} | {r['batch_size']} | {r['images_per_sec']:.1f} | "
            f"{r['step_ms']:.1f} | {r['peak_memory_mb']:.0f} | {r['supervised_step_ms']:.1f} | "
            f"{r['ssl_over_supervised']:.2f} |"
        )
    lines += ["", "| input pipeline | dataset | B | images/s |", "|---|---|---|---|"]
    for p in pipelines:
        rate = f"{p['images_per_sec']:.0f}" if "images_per_sec" in p else f"n/a ({p['error']})"
        lines.append(f"| {p['config']} | {p.get('dataset', '')} | {p['batch_size']} | {rate} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    start = time.time()
    rows, pipelines = [], []
    for name in args.configs:
        for batch_size in args.batch_sizes:
            try:
                row = measure(name, args, batch_size)
            except Exception as error:  # noqa: BLE001  (e.g. out of memory at a large B)
                keras.mixed_precision.set_global_policy("float32")
                row = {"config": name, "batch_size": batch_size, "error": f"{type(error).__name__}: {str(error)[:160]}"}
            rows.append(row)
            shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items()}
            print(json.dumps(shown), flush=True)
        pipelines.append(pipeline_rate(name, args, args.batch_sizes[-1]))
    table = markdown(rows, pipelines, args)
    print(table)
    with open(args.output, "w") as f:
        json.dump({"settings": {k: v for k, v in vars(args).items()}, "steps": rows, "pipelines": pipelines,
                   "seconds": time.time() - start, "table": table}, f, indent=2)
    print(f"wrote {args.output} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
