r"""DEMI on three Gaussian covariates: Sordoni et al. (2021), Sec. 5.1, Fig. 2.

    python -m trainers.train --config configs/demi_synthetic.py:METHOD,k=K,mi=MI \
        --workdir runs/demi_synthetic/mi_MI/METHOD_k_K

METHOD is infonce, demi (negatives from the true p(y|x')), demi_is, demi_bo or
demi_var; K the total number of candidates; MI the total I({x, x'}; y) in {5, 10, 15,
20} nats over 20 dimensions (the split over dimensions and the share alpha in
(0.1, 0.9) seen by x' are drawn once per ``task_seed``). InfoNCE scores K in-batch
candidates; every DEMI method spends K/2 on each term (batch K/2, K/2 - 1 conditional
negatives), so its ceiling is 2 log(K/2). Add ``bottom`` for Fig. 2 (bottom): batch
K, the estimate I_NCE + I_IS on shared negatives (metric mi_nce_is, ceiling 2 log K).
Encoders: one hidden ReLU layer of 100, 100 outputs; Adam 5e-4 (App. A.6).

What it should reach (Fig. 2 top): DEMI above InfoNCE at every K, most at large MI,
both under their ceilings; DEMI-BO close to DEMI; DEMI-IS noisy; DEMI-VAR above
InfoNCE at high MI. Sweep and plot with ``python tools/plot_demi_synthetic.py``.
"""

import ml_collections

from tfmi.config_utils import base_config, parse_arg


def get_config(arg=None):
    args = parse_arg(arg, method="demi", k=64, mi=10.0, bottom=False, runlocal=False)
    if args["k"] < 4 or args["k"] % 2:
        raise ValueError(f"k must be an even number >= 4, got {args['k']}.")
    config = base_config("demi_synthetic")

    config.data = ml_collections.ConfigDict()
    config.data.name = "demi_gaussian"
    config.data.total_mi = args["mi"]
    config.data.dim = 20
    config.data.task_seed = 0
    config.k = args["k"]
    config.figure = "bottom" if args["bottom"] else "top"
    splits = args["method"] != "infonce" and not args["bottom"]
    config.batch_size = args["k"] // 2 if splits else args["k"]

    config.model = ml_collections.ConfigDict()
    config.model.name = "demi_synthetic"
    config.model.method = args["method"]
    config.model.hidden_units = 100
    config.model.embed_dim = 100

    config.optimizer = dict(name="adam", learning_rate=5e-4, schedule="constant", warmup_steps=0)
    config.total_steps = 10000
    config.steps_per_loop = 250
    config.log_every = 250
    config.checkpoint_every = 2500
    config.histogram_every = 5000
    config.keep_checkpoints = 2
    config.export = True

    if args["runlocal"]:
        config.total_steps = 100
        config.steps_per_loop = 25
        config.log_every = 25
        config.checkpoint_every = 50
        config.histogram_every = 50
    return config
