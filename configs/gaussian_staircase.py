r"""Staircase of Poole et al. (2019), Fig. 2: one MI bound on correlated Gaussians.

    python -m trainers.train --config configs/gaussian_staircase.py:BOUND \
        --workdir runs/staircase/BOUND

BOUND is one of infonce, nwj, tuba, dv, js, smile, interpolated, mine; add
``cubic`` for the cubic twin (``:nwj,cubic``), ``critic=separable`` for the
separable critic and ``runlocal`` for a seconds-long smoke run. x, y in R^20,
y = rho x + sqrt(1 - rho^2) eps; the true MI steps through 2, 4, 6, 8, 10 nats, 4000
steps each (20k steps, batch 64, Adam 5e-4), as in Poole et al. The default critic is
their joint ("concat") critic, an MLP with two hidden layers of 256 on [x, y]; the
separable one has two MLPs of the same widths and 32-d embeddings.

What it should reach (Poole et al. Fig. 2 / Song & Ermon Fig. 1): InfoNCE tracks the
true MI at low values and saturates below log 64 = 4.16 nats; NWJ and TUBA are
unbiased but their variance grows with the MI; SMILE (tau = 5) is close to the true
MI with low variance. Draw the figure with ``python tools/plot_staircase.py``.
"""

import ml_collections

from tfmi.config_utils import base_config, parse_arg


# Each bound's own settings, as in Poole et al. (2019): SMILE's clip tau, MINE's
# moving-average momentum, the interpolated bound's alpha, and the baseline a(x) of TUBA
# and the interpolated bound (an MLP of x with one hidden layer of 128).
BOUND_SETTINGS = {
    "smile": dict(clip=5.0),
    "mine": dict(momentum=0.9),
    "tuba": dict(baseline="mlp", baseline_hidden=(128,)),
    "interpolated": dict(alpha=0.5, baseline="mlp", baseline_hidden=(128,)),
}


def get_config(arg=None):
    args = parse_arg(arg, bound="infonce", critic="concat", cubic=False, runlocal=False)
    config = base_config("gaussian_staircase")

    config.data = ml_collections.ConfigDict()
    config.data.name = "gaussian_staircase"
    config.data.dim = 20
    config.data.mi_values = (2.0, 4.0, 6.0, 8.0, 10.0)
    config.data.steps_per_stage = 4000
    config.data.cubic = args["cubic"]
    config.batch_size = 64

    config.model = ml_collections.ConfigDict()
    config.model.name = "infomax"
    config.model.target_mi = None
    critic = {"name": args["critic"]}
    if args["critic"] == "separable":
        critic.update(hidden_units=(256, 256), embed_dim=32, activation="relu")
    elif args["critic"] == "concat":
        critic.update(hidden_units=(256, 256), activation="relu")
    config.model.critic = critic
    config.model.bound = dict(name=args["bound"], **BOUND_SETTINGS.get(args["bound"], {}))

    config.optimizer = dict(name="adam", learning_rate=5e-4, schedule="constant", warmup_steps=0)
    config.total_steps = 20000
    config.steps_per_loop = 100
    config.log_every = 100
    config.checkpoint_every = 2000
    config.histogram_every = 4000
    config.keep_checkpoints = 3
    config.export = True

    if args["runlocal"]:
        config.data.steps_per_stage = 40
        config.total_steps = 200
        config.steps_per_loop = 20
        config.log_every = 20
        config.checkpoint_every = 100
        config.histogram_every = 100
    return config
