r"""Adversarially trained invertible encoder: Tschannen et al. (2020), Sec. 3.1, App. B, Fig. 1c.

    python -m trainers.train --config configs/mnist_adversarial.py \
        --workdir runs/mnist_adversarial
    python tools/linear_eval.py --workdir runs/mnist_adversarial --pixels

g_1: the RealNVP of configs/mnist_invertible.py (30 additive couplings, shift MLPs
512-512, identity init) on the top half; no g_2 and no MI estimator. A linear probe
W g_1(x) + b (10 logits) is trained on the true digit (cross-entropy, Adam 1e-4) and
g_1 against it, towards the uniform prediction (cross-entropy to the uniform vector,
Adam 1e-6): 1,000 warm-up probe steps, then 10 probe steps per encoder step (App. B).
Each training step updates one player on a batch of 128, so 1,000 + 11 N steps hold N
encoder iterations: the default 45,000 steps are the 4,000 iterations of Fig. 1c (the
authors' notebook runs 4,001). The model is tfmi.models.AdversarialModel.

Arguments: ``coupling=affine`` (the notebook's adversarial flow has affine couplings;
the paper says "the same RealNVP architecture as in the first experiment"),
``probe_lr`` / ``encoder_lr`` (the paper's 1e-4 / 1e-6; the notebook uses 1e-3 / 1e-5),
``mi_weight`` > 0 (not in the paper) to also maximise I_NCE(g_1(x_top); g_2(x_bottom))
with a RealNVP g_2 and a bilinear critic in the encoder's loss.

What it should reach (Fig. 1c): g_1 stays invertible, so I(g_1(X1); X2) = I(X1; X2)
(maximal) throughout; the test accuracy of a separately trained linear classifier on
g_1(x_top) starts at the pixel baseline of about 85% (the flow starts at the identity)
and falls significantly below it as the encoder iterations proceed. The logged
"probe_accuracy" (the adversary's own probe, on training batches) and "encoder_loss"
(log 10 = 2.303 when the probe is blind) show the game itself.
"""

import ml_collections

from tfmi.config_utils import apply_runlocal, base_config, import_beside, parse_arg

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, coupling="additive", probe_lr=1e-4, encoder_lr=1e-6, mi_weight=0.0, runlocal=False
    )
    config = base_config("mnist_adversarial")
    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist_halves"
    config.data.source = "auto"
    config.data.noise_std = 0.0
    config.data.data_dir = ""
    config.data.download = True  # as tfds: fetch the data on first use (false: fail offline at once)
    config.batch_size = 128

    config.model = ml_collections.ConfigDict()
    config.model.name = "adversarial"
    config.model.encoder = common.encoder_spec("realnvp", seed=0, runlocal=args["runlocal"])
    config.model.encoder.coupling = args["coupling"]
    config.model.num_classes = 10
    config.model.warmup_steps = 1000
    config.model.probe_steps = 10
    config.model.encoder_learning_rate = args["encoder_lr"]
    config.model.mi_weight = args["mi_weight"]
    if args["mi_weight"]:
        config.model.encoder_y = common.encoder_spec("realnvp", seed=1, runlocal=args["runlocal"])
        config.model.critic = common.critic_spec("bilinear")
        config.model.bound = {"name": "infonce"}

    # The trainer's optimizer is the probe's.
    config.optimizer = dict(name="adam", learning_rate=args["probe_lr"], schedule="constant", warmup_steps=0)
    config.total_steps = 1000 + 11 * 4000
    config.steps_per_loop = 110
    config.log_every = 110  # every 10 encoder iterations
    config.checkpoint_every = 4400  # every 400 encoder iterations, as the notebook records
    config.histogram_every = 4400
    config.keep_checkpoints = 11
    config.export = True

    if args["runlocal"]:
        config.model.warmup_steps = 2
        config.model.probe_steps = 1
        apply_runlocal(config, steps=8)
    return config
