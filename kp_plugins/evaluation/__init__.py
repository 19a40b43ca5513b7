"""Metrics kp_plugins adds to MMPose's (registered in ``mmpose.registry.METRICS``)."""
from .score_calibration import KPScoreCalibration, keypoint_hits, reliability_table

__all__ = ['KPScoreCalibration', 'keypoint_hits', 'reliability_table']
