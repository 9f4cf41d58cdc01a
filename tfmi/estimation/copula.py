"""The elliptical copula: per-coordinate rank maps to normal (or Student-t) scores, then a
Gaussian or Student-t log density ratio of the scores (``gaussian``). NumPy only.

Rank Gaussianisation maps each coordinate through Phi^-1 of its empirical CDF, fitted on
training data (``RankGaussianizer``). It undoes any elementwise monotone transform of a
Gaussian exactly (half-cube, asinh, normal CDF, ...), so that the Gaussian closed form
then gives their MI (``fit_rank_gaussian``: the Gaussian copula). ``fit_rank_copula``
also tries Student-t copulas (dependence through a shared scale) and keeps the one with
the best validation likelihood unless the Gaussian is not beaten by two standard errors
(``protocol.beats``); neither models dependence that mixes coordinates (spirals).
"""

import numpy as np
from scipy import special, stats

from tfmi.estimation import protocol
from tfmi.estimation.gaussian import GaussianRatio, StudentRatio
from tfmi.estimation.inputs import check_pairs

__all__ = ["RankGaussianizer", "LatentScorer", "fit_rank_gaussian", "fit_rank_elliptical", "fit_rank_copula"]


class RankGaussianizer:
    """Per-coordinate z = Phi^-1(F_n(x)), F_n the empirical CDF of the training data.

    ``fit`` keeps each coordinate's sorted distinct training values and the normal score
    Phi^-1((r - 1/2) / n) of their mean rank r (ties share the mean); ``transform`` maps new
    values by linear interpolation between them, constant beyond the training range.
    Monotone in every coordinate, hence MI preserving on data whose values lie inside the
    training range.
    """

    def __init__(self, knots, scores):
        self.knots = knots
        self.scores = scores

    @classmethod
    def fit(cls, x):
        """The map fitted on ``x`` [n, d] (n >= 2)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or len(x) < 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"RankGaussianizer.fit: x must be a finite [n >= 2, d] array, got shape {x.shape}.")
        n = len(x)
        normal_scores = special.ndtri((np.arange(n) + 0.5) / n)
        knots, scores = [], []
        for column in x.T:
            values, inverse = np.unique(column, return_inverse=True)
            ranks = np.argsort(np.argsort(column, kind="stable"), kind="stable")
            counts = np.bincount(inverse)
            knots.append(values)
            scores.append(np.bincount(inverse, weights=normal_scores[ranks]) / counts)
        return cls(knots, scores)

    def transform(self, x):
        """[n, d] float32 normal scores of ``x`` [n, d]."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(self.knots):
            raise ValueError(
                f"RankGaussianizer.transform: expected [n, {len(self.knots)}] like the fitted data, got {x.shape}."
            )
        columns = [np.interp(column, knots, scores) for column, knots, scores in zip(x.T, self.knots, self.scores)]
        return np.stack(columns, axis=1).astype(np.float32)


class LatentScorer:
    """A pair scorer through latents: u = map_x(x), v = map_y(y), scored by a fitted latent
    ratio (``GaussianRatio`` or ``StudentRatio``). With invertible maps the log ratio of
    the latents is that of (x, y) (the Jacobians cancel).

    ``scores(x [a, d_x], y [b, d_y]) -> [a, b]``, ``pointwise(x, y) -> [n]`` (float32, on
    the inputs as given: the maps include any standardisation), ``closed_form_mi`` (the
    MI of the fitted latent model, nats; ``gaussian_mi`` is the same number), ``history``.
    """

    def __init__(self, map_x, map_y, ratio, history=()):
        self.map_x = map_x
        self.map_y = map_y
        self.ratio = ratio
        self.history = list(history)

    @property
    def closed_form_mi(self):
        return self.ratio.mi

    @property
    def gaussian_mi(self):
        return self.ratio.mi

    def resampler(self, x, y):
        """Bootstrap refits on rows of the pairs (x, y): a function of row indices (with
        repeats) giving the same maps and family (Gaussian, or Student-t with the same dof)
        with the ratio refitted on those rows, the margins fixed; the latents are computed
        once (the maps act row by row)."""
        u, v = self.latents(x, y)
        dof = getattr(self.ratio, "dof", np.inf)
        return lambda rows: LatentScorer(self.map_x, self.map_y, _fit_ratio(u[rows], v[rows], dof))

    def latents(self, x, y):
        """(u, v) = (map_x(x), map_y(y)) as float64 arrays."""
        x, y = (np.asarray(a, dtype=np.float32) for a in (x, y))
        x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
        return np.asarray(self.map_x(x), np.float64), np.asarray(self.map_y(y), np.float64)

    def sample(self, size, rng):
        """[size, d] draws of the latent model (u, v side by side)."""
        return self.ratio.sample(size, rng)

    def scores(self, x, y):
        """[a, b] float32 log ratio of every pair (x_i, y_j)."""
        return self.ratio.scores(*self.latents(x, y))

    def pointwise(self, x, y):
        """[n] float32 log ratio of each pair (x_i, y_i)."""
        return self.ratio.pointwise(*self.latents(x, y))


def fit_rank_gaussian(x_train, y_train):
    """The Gaussian-copula scorer: ``RankGaussianizer`` per side fitted on the training
    pairs, then the ``GaussianRatio`` of their normal scores. Instant; exact (up to
    sampling error) for elementwise monotone transforms of a joint Gaussian."""
    x_train, y_train = check_pairs(x_train, y_train, "fit_rank_gaussian", "x_train", "y_train")
    rank_x, rank_y = RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train)
    ratio = GaussianRatio.fit(rank_x.transform(x_train), rank_y.transform(y_train))
    return LatentScorer(rank_x.transform, rank_y.transform, ratio)


def _student_scores(rank, dof):
    """The rank map with Student-t quantiles: t_dof^-1(Phi(normal score)) at every knot."""
    return RankGaussianizer(rank.knots, [stats.t.ppf(special.ndtr(scores), dof) for scores in rank.scores])


def fit_rank_elliptical(x_train, y_train, dof=np.inf, rank=None):
    """The copula scorer of one family: per-coordinate rank maps of the training pairs to
    normal scores (``dof`` inf: the ``GaussianRatio``) or to Student-t quantiles with
    ``dof`` (the ``StudentRatio``), then the ratio fitted to the mapped pairs. ``rank``:
    the (x, y) ``RankGaussianizer`` pair, when already fitted on these training pairs."""
    rank_x, rank_y = rank or (RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train))
    if np.isinf(dof):
        map_x, map_y = rank_x.transform, rank_y.transform
    else:
        map_x, map_y = _student_scores(rank_x, dof).transform, _student_scores(rank_y, dof).transform
    return LatentScorer(map_x, map_y, _fit_ratio(map_x(x_train), map_y(y_train), dof))


def _fit_ratio(u, v, dof):
    """The ``GaussianRatio`` (dof inf) or ``StudentRatio`` of the pairs (u, v)."""
    return GaussianRatio.fit(u, v) if np.isinf(dof) else StudentRatio.fit(u, v, dof)


def fit_rank_copula(x_train, y_train, x_valid, y_valid, dofs=(1, 2, 3, 5, 10, 30)):
    """The elliptical-copula scorer: a Gaussian copula, or a Student-t one when it fits the
    validation pairs clearly better.

    Gaussian: ``fit_rank_gaussian``. Student-t with each of ``dofs``: per-coordinate
    Student-t quantiles of the empirical CDF of the training data, then the
    ``StudentRatio`` fitted to the training pairs (``fit_rank_elliptical``). The
    Student-t copula with the highest
    mean log-likelihood on the validation pairs replaces the Gaussian one when it beats it
    by more than two standard errors of the per-pair difference (``history`` lists each
    candidate's dof (inf: Gaussian), validation log-likelihood, closed-form MI and mean
    log ratio on the validation pairs). Instant; a Gaussian copula covers elementwise
    monotone transforms of Gaussians, a Student-t copula those of multivariate Student-t
    (dependence through a shared scale, zero correlation included). A scorer like
    ``fit_rank_gaussian``'s, with ``closed_form_mi``; ``ratio.dof`` (absent: Gaussian)
    says which family was kept.
    """
    x_train, y_train = check_pairs(x_train, y_train, "fit_rank_copula", "x_train", "y_train")
    x_valid, y_valid = check_pairs(x_valid, y_valid, "fit_rank_copula", "x_valid", "y_valid")
    if any(not 0 < dof < np.inf for dof in dofs):
        raise ValueError(f"fit_rank_copula: dofs must be positive finite numbers, got {dofs}.")
    rank = RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train)
    candidates, history = [], []
    for dof in (np.inf, *dofs):
        scorer = fit_rank_elliptical(x_train, y_train, dof, rank)
        u, v = scorer.latents(x_valid, y_valid)
        log_likelihood = scorer.ratio.copula_log_density(np.concatenate([u, v], axis=1))
        candidates.append((log_likelihood, scorer))
        history.append(
            {
                "dof": float(dof),
                "valid_log_likelihood": float(np.mean(log_likelihood)),
                "closed_form_mi": scorer.ratio.mi,
                "valid_mi": float(np.mean(scorer.ratio.pointwise(u, v))),
            }
        )
    gaussian_terms, chosen = candidates[0]
    if len(candidates) > 1:
        terms, student = max(candidates[1:], key=lambda candidate: np.mean(candidate[0]))
        if protocol.beats(terms, gaussian_terms):
            chosen = student
    chosen.history = history
    return chosen
