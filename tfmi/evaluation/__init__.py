"""Evaluation of trained encoders: what ``tools/`` and the trainers report after training.

- ``tfmi.evaluation.jacobian``: condition numbers of an encoder's Jacobian and their
  percentiles (Tschannen et al. 2020, Figures 2c and 5).
- ``tfmi.evaluation.linear_eval``: the linear evaluation protocol (SavedModel encoder ->
  scikit-learn SAGA logistic regression -> test accuracy) and the pixel baseline.
- ``tfmi.evaluation.checkpoints``: that evaluation, plus the test I_EST, at every kept
  checkpoint of a run (WORKDIR/eval_curve.json, the curves of the paper's figures).
- ``tfmi.evaluation.estimator_benchmark`` (imported by name, not here): ``estimate_mi``
  against benchmark-mi's estimators on ``tfmi.data.ground_truth`` (tools/bench_estimators.py).
"""

from tfmi.evaluation.checkpoints import (
    EVAL_CURVE,
    checkpoint_steps,
    evaluate_checkpoints,
    load_run_config,
    read_eval_curve,
)
from tfmi.evaluation.jacobian import (
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
