"""The candidate estimators of ``estimate_mi``: ``CANDIDATES`` maps a name to a fit function.

A fit function ``fit(views, settings) -> Candidate`` fits on the train split of its
representation of the pairs (``Representations``), using validation only for its own choices
(early stopping, the number of mixture components, the copula's family). A
``Candidate`` holds a pair scorer ``scores(x [a, d_x], y [b, d_y]) -> [a, b]`` on that
representation, how it is read on held-out pairs (``evaluate``: the plug-in mean of a
normalised model's log ratio, or a bound over all pairs for a critic), its curve, and,
for the models that refit in milliseconds, ``refit`` (the bootstrap of the interval).

``choose`` picks among fitted candidates by InfoNCE on the validation pairs: a lower
bound for any scorer, so a larger value is a better scorer whatever kind it is.

Adding a candidate: a fit function here, one line in ``CANDIDATES`` (and in
``AUTO_CANDIDATES`` to enter the default), a test against an exact MI in
tests/test_candidates.py.
"""

import dataclasses
import logging

import numpy as np

from tfmi.estimation import copula, gaussian, heldout, mixture, protocol, screen

__all__ = ["Representations", "Candidate", "CANDIDATES", "AUTO_CANDIDATES", "CURVE_KEYS", "curve_point", "choose",
           "preferred", "fit_auto", "miscalibration", "bootstrap"]

logger = logging.getLogger("tfmi.estimation")

CURVE_KEYS = ("stage", "train", "valid", "measure")  # one dict per point of MIEstimate.curve


class Representations:
    """The train / validation / test pairs in each representation a candidate reads, the
    maps fitted on the train rows only:

      "normal"        per coordinate, Phi^-1 of the train empirical CDF
                      (``copula.RankGaussianizer``): monotone, so the MI is unchanged;
                      heavy tails and monotone distortions of the margins are gone;
      "standardised"  per coordinate, (value - train mean) / train sd: affine, so a
                      mixture of Gaussians stays one.

    ``views[name]`` is [(x, y) train, (x, y) validation, (x, y) test], float32.
    """

    NAMES = ("normal", "standardised")

    def __init__(self, x_parts, y_parts):
        self._maps = {name: (self.fit_map(name, x_parts[0]), self.fit_map(name, y_parts[0])) for name in self.NAMES}
        self._views = {name: [self.apply(name, x, y) for x, y in zip(x_parts, y_parts)] for name in self.NAMES}

    @staticmethod
    def fit_map(name, train):
        """The per-coordinate map ``name`` fitted on ``train`` [n, d]: a function of [m, d]."""
        if name == "normal":
            return copula.RankGaussianizer.fit(train).transform
        mean, scale = train.mean(axis=0), train.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)  # a constant column stays 0
        return lambda values: ((values - mean) / scale).astype(np.float32)

    def model_train(self, name, settings):
        """The train pairs a model fits on: at most ``settings.max_fit_pairs`` (the
        rows are in random order). A critic trains on them all: its steps, not the
        pairs, set its cost."""
        return tuple(part[: settings.max_fit_pairs] for part in self._views[name][0])

    def apply(self, name, x, y):
        map_x, map_y = self._maps[name]
        return map_x(x), map_y(y)

    def __getitem__(self, name):
        return self._views[name]


@dataclasses.dataclass
class Candidate:
    """A fitted estimator.

    Attributes:
      name: what it is, e.g. "copula model" or "infonce critic".
      inputs: the representation (a name of ``Representations.NAMES``) its scorer reads.
      scores: its pair scorer on that representation.
      evaluate: ``evaluate(x, y) -> heldout.HeldOutEstimate`` on held-out pairs.
      curve: its fitting curve, dicts with ``CURVE_KEYS``: "stage" (training step, or
        model size: mixture components, copula degrees of freedom with inf for the
        Gaussian), "train" and "valid" values (None where not computed) of "measure".
      best_step: the stage kept.
      fit_pairs: the train pairs it was fitted on.
      refit: for a normalised model, ``refit(rows) -> model`` with ``pointwise``: the
        same model (size, family, margins) refitted on the rows ``rows`` (indices, with
        repeats) of its train pairs (``Representations.model_train``); None where a refit costs a
        whole training run.
      model: a normalised model's fitted density model (``copula.LatentScorer``,
        ``mixture.MixtureRatio``, the flow); None for a critic.
    """

    name: str
    inputs: str
    scores: object
    evaluate: object
    curve: list
    best_step: object
    fit_pairs: int
    refit: object = None
    model: object = None


def curve_point(stage, train, valid, measure):
    """One point of a curve: {"stage", "train", "valid", "measure"}."""
    return dict(zip(CURVE_KEYS, (stage, train, valid, measure)))


def _plugin_candidate(name, inputs, model, curve, best_step, train, refit):
    return Candidate(name, inputs, model.scores, lambda x, y: heldout.plugin(model.pointwise, x, y), curve,
                     best_step, len(train[0]), refit, model)


def fit_copula(views, settings):
    """The elliptical copula (``copula.fit_rank_copula``) on normal scores."""
    train, valid = views.model_train("normal", settings), views["normal"][1]
    scorer = copula.fit_rank_copula(*train, *valid)
    dof = getattr(scorer.ratio, "dof", np.inf)
    curve = [curve_point(point["dof"], None, point["valid_log_likelihood"], "copula log-likelihood per pair")
             for point in scorer.history]
    return _plugin_candidate("copula model", "normal", scorer, curve, float(dof), train, scorer.resampler(*train))


def fit_mixture(views, settings, inputs="standardised"):
    """A Gaussian mixture of the joint (``mixture.fit_mixture``) on standardised values (a
    mixture stays one), or on normal scores (``inputs="normal"``: the margins are Gaussian,
    so the components model the dependence alone; a copula that is nearly right needs few)."""
    train, valid = views.model_train(inputs, settings), views[inputs][1]
    model = mixture.fit_mixture(*train, *valid, seed=settings.seed)
    curve = [curve_point(p["components"], p["train_log_likelihood"], p["valid_log_likelihood"],
                          f"joint log-likelihood per pair ({p['covariance']} covariances)") for p in model.history]
    form = ("" if model.covariance_type == "full" else ", diagonal covariances") + (
        "" if inputs == "standardised" else ", of normal scores")
    return _plugin_candidate(f"mixture model ({model.num_components} components{form})", inputs, model, curve,
                             model.num_components, train,
                             lambda rows: model.refit(train[0][rows], train[1][rows], seed=settings.seed))


def fit_flow(views, settings):
    """The flow (``flow.fit_flow``: couplings on the rank map) on normal scores."""
    from tfmi.estimation import flow  # TensorFlow: imported when a flow is fitted, not for every estimate

    train, valid = views.model_train("normal", settings), views["normal"][1]
    scorer = flow.fit_flow(*train, *valid, seed=settings.seed)
    curve = [curve_point(p["step"], p["train_loss"], p["valid_loss"], "negative log-likelihood per pair")
             for p in scorer.history]
    best_step = min(scorer.history, key=lambda p: p["valid_loss"])["step"] if scorer.history else 0
    return _plugin_candidate("flow model", "normal", scorer, curve, best_step, train, None)


def fit_critic_candidate(views, settings, bound="infonce"):
    """A critic trained with ``bound`` (``neural.fit_critic``) on normal scores, read on
    held-out pairs by the same bound over all pairs (``neural.heldout_args``)."""
    from tfmi.estimation import neural  # TensorFlow: imported when a critic is fitted, not for every estimate

    train, valid, _ = views["normal"]
    fitted = neural.fit_critic(
        *train,
        *valid,
        critic=settings.critic,
        critic_args=settings.critic_args,
        bound=bound,
        bound_args=settings.bound_args,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        max_steps=settings.max_steps,
        eval_every=settings.eval_every,
        patience=settings.patience,
        seed=settings.seed,
        log=logger.info if settings.verbose else None,
    )
    args = neural.heldout_args(bound, settings.bound_args)
    curve = [curve_point(p["step"], p["train_mi"], p["valid_mi"], f"{bound} (nats)") for p in fitted.history]
    return Candidate(f"{bound} critic", "normal", fitted.scores,
                     lambda x, y: heldout.estimate(fitted.scores, x, y, **args), curve, fitted.best_step, len(train[0]))


CANDIDATES = {"copula": fit_copula, "mixture": fit_mixture, "flow": fit_flow, "critic": fit_critic_candidate}
# The default's candidates in order of preference: a later one must beat the kept one.
AUTO_CANDIDATES = ("copula", "mixture", "flow", "critic")


BATCH_TRAINED = ("flow", "critic")  # candidates trained on batches of settings.batch_size train pairs
# The closed-form models, fitted in this order before the batch-trained ones. With the screen,
# each is checked (``screen.model_screen``) as it is fitted: a copula that passes the check's
# lower bar (``ScreenResult.doubtful``) is the whole search; a copula or mixture that passes
# the check itself spares the flow and the critic (on the suite's 57 tasks at n = 5,000 and
# 15,000 neither won wherever the copula passed, and the mixture won where the copula passed
# only the lower bar: bmi's sparse normal with 20% inliers).
ALWAYS_FITTED = ("copula", "mixture")
# |log M| a normalised model may show on validation (``miscalibration``): models that are right
# for the data stayed within 0.03 on the suite's tasks.
CALIBRATION_TOLERANCE = 0.1


def fit_auto(views, settings):
    """(every candidate of ``AUTO_CANDIDATES`` that can be fitted to these pairs, the
    notes on those skipped for the method string). The models of ``ALWAYS_FITTED`` are
    fitted in turn; with ``settings.screen`` each is checked on its train pairs
    (``screen.model_screen``): the search stops after a copula free of doubt, and
    after either model that passes, before the batch-trained candidates. A model that
    needs more pairs than the dimension has, or non-collinear features, is skipped with a
    log line, and so is a one-component mixture (a Gaussian, which the copula already is);
    the batch-trained candidates are skipped when the train split is smaller than a batch;
    the critic's errors come from the caller's arguments and are raised."""
    notes, found = [], []
    n_train = len(views["normal"][0][0])
    rest = AUTO_CANDIDATES[len(ALWAYS_FITTED):]
    passed = False  # a closed-form model passed its check: the batch-trained ones are not fitted
    for name in ALWAYS_FITTED:
        # after a copula that passed its check (in doubt), the mixture looks for what its
        # Gaussian dependence misses on normal scores: the margins need no components there
        candidate = _fit_model(name, views, settings, **({"inputs": "normal"} if passed else {}))
        if candidate is None:
            continue
        found.append(candidate)
        if not settings.screen or passed:
            continue
        check = screen.model_screen(candidate.model, *views.model_train(candidate.inputs, settings), settings.seed)
        if check is None:
            notes.append(f"no k-NN check of the {name} ({n_train} train pairs)")
            continue
        if name == "copula" and not check.doubtful:
            return found, [f"{check.describe(name)}: {', '.join(AUTO_CANDIDATES[1:])} not fitted"]
        passed = not check.flagged
        notes.append(check.describe(name) + (f": {', '.join(rest)} not fitted" if passed else ""))
    if passed:
        return found, notes
    if n_train < settings.batch_size:
        notes.append(f"{' and '.join(BATCH_TRAINED)} skipped: {n_train} train pairs, fewer than one batch of "
                     f"{settings.batch_size}")
        return found, notes
    found += [candidate for candidate in (_fit_model(name, views, settings) for name in rest) if candidate]
    return found, notes


def _fit_model(name, views, settings, **options):
    """The candidate ``name`` fitted (``options``: further arguments of its fit function),
    or None (logged) where a model cannot be fitted to these pairs or is a one-component
    mixture; the critic's errors are raised."""
    if name == "critic":
        return CANDIDATES[name](views, settings)
    try:
        candidate = CANDIDATES[name](views, settings, **options)
    except ValueError as error:
        logger.info("estimate_mi: no %s candidate (%s)", name, error)
        return None
    if name == "mixture" and candidate.best_step == 1:
        logger.info("estimate_mi: no mixture candidate (one component: a Gaussian, as the copula's)")
        return None
    return candidate


def choose(candidates, views):
    """The first candidate, unless a later one beats it by more than two standard errors
    of the paired difference of their validation InfoNCE (validation pairs scored
    against up to ``heldout.SELECTION_CANDIDATES`` others): a model or critic must earn its place
    against the ones before it. A normalised model whose log ratio is miscalibrated on
    validation (``miscalibration``) takes no part while another candidate is left.
    Returns (chosen, {name: validation InfoNCE}, {name: miscalibration note})."""
    terms, miscalibrated = {}, {}
    for candidate in candidates:
        stats = heldout.row_statistics(candidate.scores, *views[candidate.inputs][1],
                                       max_candidates=heldout.SELECTION_CANDIDATES)
        terms[candidate.name] = heldout.estimate(None, None, None, "infonce", stats=stats).terms
        note = miscalibration(candidate, stats)
        if note:
            miscalibrated[candidate.name] = note
    kept = [candidate for candidate in candidates if candidate.name not in miscalibrated] or candidates
    return preferred(kept, terms), {name: float(np.mean(values)) for name, values in terms.items()}, miscalibrated


def miscalibration(candidate, stats=None, views=None):
    """For a normalised model (``candidate.model`` set), a note when its log ratio f is
    miscalibrated on the validation pairs (their ``row_statistics`` ``stats``, or
    computed from ``views``): |log M| (``heldout.log_partition``,
    M the mean of e^f over negative pairs, 1 for the true ratio) above
    ``CALIBRATION_TOLERANCE`` nats and three standard errors; else None. Such a model
    ranks pairs well enough to win on InfoNCE while its plug-in mean overstates the MI
    by nats (a 16-component mixture of 64 clusters in 5 + 5 dimensions: log M 4.6,
    plug-in 7.99 nats of 4.16)."""
    if candidate.model is None:
        return None
    if stats is None:
        stats = heldout.row_statistics(candidate.scores, *views[candidate.inputs][1],
                                       max_candidates=heldout.SELECTION_CANDIDATES)
    log_m, stderr = heldout.log_partition(stats)
    if abs(log_m) > max(CALIBRATION_TOLERANCE, 3.0 * stderr):
        return (f"its log density ratio is miscalibrated on the validation pairs (log of its mean exp over unpaired "
                f"rows {log_m:+.2f}, not 0)")
    return None


def preferred(candidates, terms):
    """The first of ``candidates`` unless a later one beats the kept one by more than two
    standard errors of the paired difference of their per-row ``terms`` ({name: [n]},
    larger is better)."""
    chosen = candidates[0]
    for candidate in candidates[1:]:
        if protocol.beats(terms[candidate.name], terms[chosen.name]):
            chosen = candidate
    return chosen


def bootstrap(candidate, views, settings):
    """The fitting variability of a refittable candidate: ``settings.bootstrap`` refits, each on
    its train pairs (``Representations.model_train``) drawn with replacement (the maps of the representation and of the
    model's margins held fixed: a map refitted on rows with duplicates adds a noise the
    fit itself does not have), each read by its plug-in mean on the same test pairs.
    Returns their means.

    With m_0 the candidate's own test mean, mean_b(m_b) - m_0 estimates the bias of the
    fitted model's held-out value (second order in the fitting error, as the bias is),
    and var_b(m_b) the variance that the fit adds to the test-split noise."""
    rng = np.random.default_rng([settings.seed, 7919])
    train_rows, test = len(views.model_train(candidate.inputs, settings)[0]), views[candidate.inputs][2]
    means = []
    with gaussian.one_blas_thread():  # many small fits
        for _ in range(settings.bootstrap):
            model = candidate.refit(rng.integers(0, train_rows, size=train_rows))
            means.append(float(np.mean(model.pointwise(*test))))
    return np.array(means)
