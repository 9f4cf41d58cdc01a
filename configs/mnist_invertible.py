r"""Invertible encoders: Tschannen et al. (2020), Sec. 3.1, Figure 1 (a, b).

    python -m trainers.train --config configs/mnist_invertible.py:BOUND[,critic=CRITIC] \
        --workdir runs/mnist_invertible/BOUND_CRITIC
    python tools/linear_eval.py --workdir runs/mnist_invertible/BOUND_CRITIC --pixels

BOUND is nce (I_NCE) or nwj (I_NWJ); CRITIC is bilinear (the paper's), separable or
concat (the Sec. 3.2 critics). g_1 (top half) and g_2 (bottom half): RealNVP, 30
additive coupling layers, each shift an MLP with two ReLU layers of 512, initialised at
the identity (truncated normal 1e-4); bilinear critic x^T W y with W 392 x 392; Adam
1e-4, batch 128, 21,000 iterations (the authors' notebook; the figures show 0-20k), a
checkpoint every 1,000 (the evaluation points of the curves; each RealNVP checkpoint
is ~330 MB with Adam's slots, 22 kept: lower ``keep_checkpoints`` to save disk).

What it should reach (Fig. 1a, b, averaged over 20 runs): both encoders are invertible,
so the true MI I(g_1(X1); g_2(X2)) = I(X1; X2) never changes; yet the testing I_EST and
the test accuracy of a linear classifier on g_1(x_top) both increase during training,
the accuracy from the pixel baseline of about 85% (linear classifier on the raw top
halves) upwards. I_NCE stays below log 128 = 4.85 nats.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(arg, bound="nce", critic="bilinear", runlocal=False)
    return common.halves_config(
        "mnist_invertible",
        dataset="mnist_halves",
        encoder="realnvp",
        critic=args["critic"],
        bound=args["bound"],
        learning_rate=1e-4,
        batch_size=128,
        total_steps=21000,
        eval_every=1000,
        runlocal=args["runlocal"],
    )
