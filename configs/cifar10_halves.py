r"""The MNIST experiments of Sec. 3.2 and 3.3 on CIFAR-10: Tschannen et al. (2020), App. G.

    # Figure 8 (Sec. 3.2, critic capacity): CRITIC in bilinear, separable, concat
    python -m trainers.train --config configs/cifar10_halves.py:critic,critic=CRITIC,bound=BOUND \
        --workdir runs/cifar10_halves/critic_BOUND_CRITIC
    # Figure 9 (Sec. 3.3, encoder architecture at a target): ENCODER in mlp, convnet; T in 2, 4
    python -m trainers.train --config configs/cifar10_halves.py:encoder,encoder=ENCODER,bound=BOUND,t=T \
        --workdir runs/cifar10_halves/encoder_ENCODER_BOUND_tT
    python tools/linear_eval.py --workdir runs/cifar10_halves/... --pixels

The first argument picks the variant: ``critic`` (MLP encoders, the critic of
configs/mnist_critic_capacity.py) or ``encoder`` (bilinear critic, L_t = |I_EST - t| as
configs/mnist_encoder_arch.py). BOUND is nce or nwj. "We use the same encoder and critic
architectures with the only difference that the input layers of the encoders are
adapted to process the (flattened) 32 x 14 x 3 pixel image halves. Furthermore, we
reduce the learning rate from 1e-4 to 1e-5 and triple the number of training
iterations": Adam 1e-5, batch 128, 63,000 iterations, a checkpoint every 3,000. The
halves are the 16 x 32 x 3 = 1536 values on each side of the midline (the notebook's
split of the flat image in two); ``half_rows=14`` gives the literal 32 x 14 x 3 = 1344
(see tfmi/data/cifar_halves.py). Needs the tfds ``cifar10`` data.

What it should reach (Fig. 8, 9): a linear classifier on the top-half pixels reaches
about 24%. As on MNIST: bilinear and separable critics give higher linear test accuracy
than the MLP (concat) critic while reaching a lower I_NWJ (which is noisy); at a matched
target t the ConvNet encoders clearly beat the MLP encoders.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "tschannen2020/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, variant="critic", critic="bilinear", encoder="convnet", bound="nce", t=2.0,
        half_rows=16, runlocal=False,
    )
    if args["variant"] not in ("critic", "encoder"):
        raise ValueError(f"the variant must be critic (Fig. 8) or encoder (Fig. 9), got {args['variant']!r}.")
    if args["variant"] == "critic":
        model = dict(encoder="mlp", critic=args["critic"], target_mi=None)
    else:
        model = dict(encoder=args["encoder"], critic="bilinear", target_mi=args["t"])
    config = common.halves_config(
        f"cifar10_halves_{args['variant']}",
        dataset="cifar10_halves",
        half_rows=args["half_rows"],
        bound=args["bound"],
        learning_rate=1e-5,
        batch_size=128,
        total_steps=3 * 21000,
        eval_every=3000,
        runlocal=args["runlocal"],
        **model,
    )
    return config

