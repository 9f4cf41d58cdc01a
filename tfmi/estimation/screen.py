"""The default's screen: does a fitted model leave dependence unexplained?

The k-NN estimate of Kraskov, Stoegbauer and Grassberger (2004, their first; max-norm,
k neighbours),

    KSG(u; v) = psi(k) + psi(m) - mean_i [psi(n_u,i + 1) + psi(n_v,i + 1)],

n_u,i (n_v,i) the points closer to u_i (v_i) in u (v) than the k-th neighbour of (u_i, v_i)
in the joint, is computed twice: on a model's latents of m train pairs (the copula's normal
or Student-t scores; the mixture's standardised values), and on m pairs drawn from the
fitted model itself. KSG is biased (downwards, more so in more dimensions
and at higher MI), but both samples share the dimension, the size and, under a correct
model, the distribution, hence the bias: the difference D = KSG(data) - KSG(draws) is then
sampling noise. A D beyond it says the data's dependence is not the model's (for the
copula: a spiral, additive uniform noise, clusters; for the mixture: too few components,
or too many), so a better scorer may exist and the next candidates are fitted; otherwise
they are not (``candidates.fit_auto``; the copula's D also decides the mixture, at a lower
bar). A pair flagged in error is only fitted as before, at
the old cost; on bmi's 40 tasks D lay in -0.045..+0.02 nats wherever the copula is right.

Noise: D is computed on all m pairs, and also in each of ``SCREEN_BLOCKS`` blocks of them
(both samples' KSG at the block's size, so the bias still cancels there); the blocks' spread
gives D's standard error, sd_b(D_b) / sqrt(blocks) (a variance that falls as 1 / m). The
check flags when |D| exceeds ``THRESHOLD`` standard errors and ``MIN_DIFFERENCE`` nats. D is
taken on all m pairs, not as the blocks' mean: KSG at high MI resolves the finer structure
that tells the models apart only with many pairs (y = x + uniform noise at 1.46 nats: D
0.12 on 4,000 pairs, 0.04 as the mean of 8 blocks of 500).
"""

import dataclasses

import numpy as np
from scipy import spatial, special

__all__ = ["ksg_terms", "ScreenResult", "model_screen"]

NEIGHBOURS = 5  # k of KSG, as bmi's and scikit-learn's defaults
SCREEN_PAIRS = 4000  # train pairs the check reads at most
DISTANCE_BUDGET = 2e8  # above KD_TREE_MAX_DIM dimensions, m^2 d at most (the cost of the distance matrices)
SCREEN_BLOCKS = 8  # blocks of them, each its own D, for the standard error
MIN_BLOCK_PAIRS = 25  # fewer train pairs per block: no check (every candidate is fitted)
KD_TREE_MAX_DIM = 8  # above this, a k-d tree is slower than the distance matrices
THRESHOLD = 2.5  # standard errors of D that flag (Student's t, 7 dof: 2% of correct copulas)
MIN_DIFFERENCE = 0.02  # nats of |D| below which nothing is flagged
# The copula's check decides the mixture at a lower bar (``ScreenResult.doubtful``): bmi's
# sparse normal with 20% inliers (5 + 5 dimensions, n = 15,000) showed D 0.026 at 2.2 standard
# errors where the copula reads 0.555 of 0.635 and the mixture 0.630.
DOUBT_THRESHOLD = 1.5
DOUBT_MIN_DIFFERENCE = 0.01


def ksg_terms(u, v, k=NEIGHBOURS):
    """[m] per-row KSG terms of the pairs (u [m, d_u], v [m, d_v]); their mean is the
    estimate. Ties are not broken (the data here are continuous latents)."""
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    m = len(u)
    if u.shape[1] + v.shape[1] <= KD_TREE_MAX_DIM:
        joint = np.concatenate([u, v], axis=1)
        radius = spatial.cKDTree(joint).query(joint, k + 1, p=np.inf)[0][:, -1]
        below = np.nextafter(radius, 0)  # strictly closer than the k-th neighbour
        count_u = spatial.cKDTree(u).query_ball_point(u, below, p=np.inf, return_length=True) - 1
        count_v = spatial.cKDTree(v).query_ball_point(v, below, p=np.inf, return_length=True) - 1
    else:
        distance_u = spatial.distance.cdist(u, u, "chebyshev")
        distance_v = spatial.distance.cdist(v, v, "chebyshev")
        joint = np.maximum(distance_u, distance_v)
        np.fill_diagonal(joint, np.inf)
        radius = np.partition(joint, k - 1, axis=1)[:, k - 1]
        count_u = np.sum(distance_u < radius[:, None], axis=1) - 1
        count_v = np.sum(distance_v < radius[:, None], axis=1) - 1
    return special.digamma(k) + special.digamma(m) - special.digamma(count_u + 1) - special.digamma(count_v + 1)


@dataclasses.dataclass
class ScreenResult:
    """KSG of the data's latents and of the model's draws (nats) and the standard error of
    their difference D. ``flagged``: |D| beyond ``THRESHOLD`` standard errors and
    ``MIN_DIFFERENCE`` nats (a misfit); ``doubtful``: beyond the lower bar of
    ``DOUBT_THRESHOLD`` and ``DOUBT_MIN_DIFFERENCE``."""

    data: float
    draws: float
    stderr: float

    def _beyond(self, threshold, min_difference):
        return abs(self.data - self.draws) > max(threshold * self.stderr, min_difference)

    @property
    def flagged(self):
        return self._beyond(THRESHOLD, MIN_DIFFERENCE)

    @property
    def doubtful(self):
        return self._beyond(DOUBT_THRESHOLD, DOUBT_MIN_DIFFERENCE)

    def describe(self, model):
        verdict = "differs from" if self.flagged else "in line with"
        return (f"k-NN check of the {model}: KSG {self.data:.3f} on the data {verdict} {self.draws:.3f} on its draws "
                f"(standard error of the difference {self.stderr:.3f})")


def screen_rows(dim):
    """Train pairs the check reads in ``dim`` joint dimensions: ``SCREEN_PAIRS``, fewer
    where the distance matrices would cost more than ``DISTANCE_BUDGET``."""
    if dim <= KD_TREE_MAX_DIM:
        return SCREEN_PAIRS
    return int(min(SCREEN_PAIRS, np.sqrt(DISTANCE_BUDGET / dim)))


def model_screen(model, x_train, y_train, seed):
    """The check of the module docstring for a fitted ``model`` with ``latents(x, y) ->
    (u, v)`` and ``sample(size, rng) -> [size, d_u + d_v]`` (draws of those latents) on its
    train pairs (in random order); a ``ScreenResult``, or None when the pairs are too few
    to check."""
    rows = screen_rows(x_train.shape[1] + y_train.shape[1])
    u, v = model.latents(x_train[:rows], y_train[:rows])
    if len(u) < SCREEN_BLOCKS * MIN_BLOCK_PAIRS:
        return None
    dim_u = u.shape[1]
    draws = model.sample(len(u), np.random.default_rng([seed, 104729]))
    samples = {"data": (u, v), "draws": (draws[:, :dim_u], draws[:, dim_u:])}

    def ksg(name, rows=slice(None)):
        first, second = samples[name]
        return float(np.mean(ksg_terms(first[rows], second[rows])))

    blocks = [ksg("data", rows) - ksg("draws", rows) for rows in np.array_split(np.arange(len(u)), SCREEN_BLOCKS)]
    stderr = float(np.std(blocks, ddof=1) / np.sqrt(SCREEN_BLOCKS))
    return ScreenResult(ksg("data"), ksg("draws"), stderr)
