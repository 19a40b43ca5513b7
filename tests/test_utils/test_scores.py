"""Logits -> probabilities for keypoint_scores (kp_plugins.utils.scores)."""
import numpy as np

from kp_plugins.utils.scores import logits_to_probs


def test_logits_to_probs_is_a_stable_sigmoid():
    logits = np.array([[-1000.0, -3.0, 0.0], [2.5, 40.0, 1000.0]])
    probs = logits_to_probs(logits)
    assert probs.dtype == np.float32 and probs.shape == logits.shape
    np.testing.assert_allclose(probs[:, 1:][0], 1 / (1 + np.exp([3.0, 0.0])), rtol=1e-6)
    np.testing.assert_allclose(probs[1, :2], 1 / (1 + np.exp([-2.5, -40.0])), rtol=1e-6)
    assert probs[0, 0] == 0.0 and probs[1, 2] == 1.0 and np.isfinite(probs).all()
