"""Evaluation of trained encoders: what ``tools/`` and the trainers report after training.

- ``tfmi.evaluation.jacobian``: condition numbers of an encoder's Jacobian and their
  percentiles (Tschannen et al. 2020, Figures 2c and 5).
- ``tfmi.evaluation.linear_eval``: the linear evaluation protocol (SavedModel encoder ->
  scikit-learn SAGA logistic regression -> test accuracy) and the pixel baseline.
"""

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
