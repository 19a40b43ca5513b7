"""Turning predicted visibility logits into ``keypoint_scores``.

Every kp_plugins head reports the probability that a keypoint is labelled
and inside the model input as its ``keypoint_scores``; ``CocoMetric`` uses
them for rescoring and OKS-NMS. Logits of a yes/no question (visibility in
the regression and bbox codecs) become probabilities with
:func:`logits_to_probs`.
"""
import numpy as np


def logits_to_probs(logits: np.ndarray) -> np.ndarray:
    """Numerically stable sigmoid of logits of any shape, as float32."""
    logits = np.asarray(logits, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)
