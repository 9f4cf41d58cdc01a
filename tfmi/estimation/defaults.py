"""The trained candidates' defaults and the DEMI estimators' names, importable without
TensorFlow: ``estimate_mi`` reads them for every call, and imports the modules that
train (``neural``, ``flow``, ``regression``, ``decomposed``: TensorFlow) only when a
critic, a flow, the conditional networks or a DEMI estimator is fitted.
"""

import numpy as np

__all__ = ["DEFAULT_CRITIC", "DEFAULT_CRITIC_ARGS", "DEFAULT_LEARNING_RATE", "MAX_CONCAT_WIDTH", "default_critic_args",
           "DEMI_ESTIMATORS", "DEMI_LEARNING_RATE"]

DEFAULT_CRITIC = "concat"  # estimate_mi's critic argument by default
# Adam's peak rate for a critic: as good as 1e-2 at n = 10,000 and better at n = 5,000
# on bmi's Student-t tasks (README, "Accuracy of the default").
DEFAULT_LEARNING_RATE = 3e-2

DEFAULT_CRITIC_ARGS = {
    "separable": {"hidden_units": (256, 256), "embed_dim": 32},
    "concat": {"hidden_units": (16, 8)},
}
MAX_CONCAT_WIDTH = 256

DEMI_ESTIMATORS = ("demi", "demi_is", "demi_bo", "demi_var")
# Adam's rate for the DEMI encoders: the critic's 3e-2 leaves "demi" below log(batch) on
# an 8-nat task at batch 32 (3.29 nats); 1e-2 and 3e-3 reach 3.83 and 3.86.
DEMI_LEARNING_RATE = 1e-2


def default_critic_args(critic, dims):
    """The critic's keyword arguments sized to ``dims`` = d_x + d_y input dimensions: the
    concatenated critic's MLP is (w, w / 2) with w = 4 dims rounded up to a power of two
    within [16, ``MAX_CONCAT_WIDTH``]: bmi's (16, 8) up to 4 dimensions, (128, 64) for
    20 + 20. Other critics get ``DEFAULT_CRITIC_ARGS``."""
    if critic != "concat":
        return dict(DEFAULT_CRITIC_ARGS.get(critic, {})) if isinstance(critic, str) else {}
    width = int(min(MAX_CONCAT_WIDTH, max(16, 2 ** int(np.ceil(np.log2(4 * dims))))))
    return {"hidden_units": (width, width // 2)}
