r"""Critic capacity: Tschannen et al. (2020), Sec. 3.2, Figures 3 and 6.

    python -m trainers.train --config configs/mnist_critic_capacity.py:CRITIC,bound=BOUND \
        --workdir runs/mnist_critic_capacity/BOUND_CRITIC
    python tools/linear_eval.py --workdir runs/mnist_critic_capacity/BOUND_CRITIC --pixels

CRITIC is bilinear (x^T W y), separable (phi_1(x)^T phi_2(y), each phi one hidden ReLU
layer of 100 and a linear layer of 100) or concat (the "MLP critic": one hidden ReLU
layer of 200 on [x, y]); BOUND is nce or nwj. g_1 and g_2: MLPs 392 -> 300 -> 300 -> 100
(ReLU; 238k parameters each). Adam 1e-4, batch 128, 21,000 iterations, no noise.

What it should reach (Fig. 3, 6): with the concat (MLP) critic the linear test
accuracy barely beats the pixel baseline of about 85%, while bilinear and separable
critics clearly beat it (the notebook's plot spans 80-90%), bilinear best. Testing
I_NCE is close to its ceiling log 128 = 4.85 for every critic; testing I_NWJ is highest
(the tightest bound) for the concat critic, lowest for bilinear: looser bounds, better
representations.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(arg, critic="bilinear", bound="nce", runlocal=False)
    return common.halves_config(
        "mnist_critic_capacity",
        dataset="mnist_halves",
        encoder="mlp",
        critic=args["critic"],
        bound=args["bound"],
        learning_rate=1e-4,
        batch_size=128,
        total_steps=21000,
        eval_every=1000,
        runlocal=args["runlocal"],
    )
