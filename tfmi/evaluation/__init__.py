"""Evaluation of trained encoders: what ``tools/`` and the trainers report after training.

- condition numbers of an encoder's Jacobian and their percentiles (Tschannen et al.
  2020, Figures 2c and 5), from ``tfmi.encoders.jacobian`` (models log them in training).
- ``tfmi.evaluation.linear_eval``: the linear evaluation protocol (SavedModel encoder ->
  scikit-learn SAGA logistic regression -> test accuracy) and the pixel baseline.
- ``tfmi.evaluation.checkpoints``: that evaluation, plus the test I_EST, at every kept
  checkpoint of a run (WORKDIR/eval_curve.json, the curves of the paper's figures).

Imported by name, not here (each is the library of one tool or paper):

- ``tfmi.evaluation.estimator_benchmark``: ``estimate_mi`` against benchmark-mi's
  estimators on ``tfmi.data.ground_truth`` (tools/bench_estimators.py).
- ``tfmi.evaluation.bound_benchmark``: the bounds' accuracy on correlated Gaussians and
  their training speed (tools/bench_bounds.py).
- ``tfmi.evaluation.benchmarking``: what the speed benchmarks share (the machine,
  memory, step timing, measurements in a fresh process, tables).
- ``tfmi.evaluation.peers``: the peer scripts the benchmarks run with other packages'
  virtualenvs (files run by path, not modules to import).
- ``tfmi.evaluation.seed_curves`` and ``tfmi.evaluation.tschannen_claims``: curves over
  seeds and Tschannen et al.'s stated values and claims checked on them
  (tools/plot_tschannen.py).
- ``tfmi.evaluation.dialogue``: restoring a dialogue run, generation and the metrics of
  Sordoni et al.'s Tables 2, 5 and 6 (tools/eval_dialogue.py, tools/sample_negatives.py).
- ``tfmi.evaluation.text_metrics``: perplexity, BLEU, repetition and diversity metrics.
"""

from tfmi.evaluation.checkpoints import (
    EVAL_CURVE,
    checkpoint_steps,
    evaluate_checkpoints,
    load_run_config,
    read_eval_curve,
)
from tfmi.encoders.jacobian import (
    PAPER_PERCENTILES,
    condition_percentiles,
    encoder_jacobian,
    jacobian_condition_numbers,
    jacobian_singular_values,
)
from tfmi.evaluation.linear_eval import (
    LinearEvalResult,
    SavedModelEncoder,
    encode,
    evaluate_encoder,
    fit_linear_classifier,
    load_encoder,
    pixel_baseline,
)

__all__ = [
    "EVAL_CURVE",
    "checkpoint_steps",
    "evaluate_checkpoints",
    "load_run_config",
    "read_eval_curve",
    "PAPER_PERCENTILES",
    "condition_percentiles",
    "encoder_jacobian",
    "jacobian_condition_numbers",
    "jacobian_singular_values",
    "LinearEvalResult",
    "SavedModelEncoder",
    "encode",
    "evaluate_encoder",
    "fit_linear_classifier",
    "load_encoder",
    "pixel_baseline",
]
