r"""Bias towards hard-to-invert encoders: Tschannen et al. (2020), Sec. 3.1, Figures 2, 5.

    python -m trainers.train --config configs/mnist_noninvertible.py:BOUND \
        --workdir runs/mnist_noninvertible/BOUND
    python tools/linear_eval.py --workdir runs/mnist_noninvertible/BOUND --pixels

BOUND is nce (I_NCE, Figure 2) or nwj (I_NWJ, Figure 5). g_1 and g_2: residual MLPs
with 4 hidden ReLU layers of 392 units and a skip connection around every layer,
initialised near the identity (truncated normal 1e-4), so they can become
non-invertible. Both halves carry the SAME noise vector N(0, 0.05^2 I_392) (coupled
noise): a non-invertible encoder then loses true MI. Bilinear critic, Adam 1e-4, batch
128, 21,000 iterations. Every 1,000 steps the model logs the 0th, 20th, ..., 100th
percentiles of log(sigma_1 / sigma_392), the log condition number of g_1's Jacobian at
128 fixed training inputs ("jacobian/log_condition_pP" in metrics.jsonl and
TensorBoard), from step 0 on.

What it should reach (Fig. 2a, b; 5): testing I_EST and linear test accuracy both
increase during training, the accuracy above the noisy pixel baseline of about 84%
(the notebook's plot spans 83-90%); meanwhile g_1, which starts with log condition
numbers near 0, becomes steadily more ill-conditioned (Fig. 2c: the percentile lines
rise over training; the notebook's plot spans 0-8 in log units).
"""

from tfmi.config_utils import import_beside, parse_arg
from tfmi.data.mnist_halves import NOISE_STD

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(arg, bound="nce", log_condition_every=1000, runlocal=False)
    config = common.halves_config(
        "mnist_noninvertible",
        dataset="mnist_halves",
        noise_std=NOISE_STD,
        encoder="residual_mlp",
        critic="bilinear",
        bound=args["bound"],
        learning_rate=1e-4,
        batch_size=128,
        total_steps=21000,
        eval_every=1000,
        runlocal=args["runlocal"],
    )
    config.model.log_condition_every = args["log_condition_every"]
    config.model.condition_points = 128
    if args["runlocal"]:
        config.model.log_condition_every = 3
        config.model.condition_points = 4
    return config
