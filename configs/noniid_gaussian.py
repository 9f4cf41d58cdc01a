r"""InfoNCE under non-i.i.d. sampling: Tschannen et al. (2020), Sec. 4, App. E, Figure 4c.

    python -m trainers.train --config configs/noniid_gaussian.py:BOUND[,iid] \
        --workdir runs/noniid_gaussian/BOUND[_iid]

BOUND is nce (I_NCE) or nwj (I_NWJ). Scalar pairs (X_i, Y_i) = Z + eps_i with
Z ~ N(0, [[1, -0.5], [-0.5, 1]]) drawn ONCE PER BATCH and eps_i ~ N(0, [[1, 0.9],
[0.9, 1]]) per example (``iid``: Z drawn per example, the i.i.d. baseline with the same
distribution of each pair). The critic scores the raw pairs: an MLP on [x, y] with 5
hidden ReLU layers of 10 units and a linear output (the notebook's concat critic); no
encoders. Adam 1e-4, batch 128 (log 128 = 4.85 >> the true MI), 20,000 steps (the
notebook's). "true_mi" is logged beside the estimate "mi".

What it should reach (Fig. 4c, the notebook's axis -0.3..0.25 nats): the true MI is
I(X; Y) = -1/2 log(1 - 0.4^2 / 2^2) = 0.0204 nats. With non-i.i.d. batches both I_NCE
and I_NWJ end ABOVE it (the batch-shared Z makes the in-batch pairs carry
I(X; Y | Z) = 0.83 nats about each other); with ``iid`` both stay below it, as lower
bounds should.
"""

import ml_collections

from tfmi.config_utils import apply_runlocal, base_config, import_beside, parse_arg
from tfmi.data import gaussians

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(arg, bound="nce", iid=False, runlocal=False)
    config = base_config("noniid_gaussian")
    config.data = ml_collections.ConfigDict()
    config.data.name = "noniid_gaussian"
    config.data.sigma_z = gaussians.NONIID_SIGMA_Z
    config.data.sigma_eps = gaussians.NONIID_SIGMA_EPS
    config.data.iid = args["iid"]
    config.batch_size = 128

    config.model = ml_collections.ConfigDict()
    config.model.name = "infomax"
    config.model.encoder_x = None
    config.model.encoder_y = None
    config.model.critic = {"name": "concat", "hidden_units": (10,) * 5, "activation": "relu"}
    config.model.bound = {"name": common.bound_name(args["bound"])}
    config.model.target_mi = None

    config.optimizer = dict(name="adam", learning_rate=1e-4, schedule="constant", warmup_steps=0)
    config.total_steps = 20000
    config.steps_per_loop = 100
    config.log_every = 100
    config.checkpoint_every = 2000
    config.histogram_every = 10000
    config.keep_checkpoints = 2
    config.export = True

    if args["runlocal"]:
        apply_runlocal(config, steps=20, batch_size=32)
    return config
