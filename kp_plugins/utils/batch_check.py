"""Which annotation of a training batch holds a value that makes a loss
non-finite: :class:`~kp_plugins.engine.hooks.KPNonFiniteLossHook` names it
(image id and file, annotation id, field) instead of blaming the batch.

Two sources per data sample (MMPose's ``PoseDataSample``):

- its raw annotation (``metainfo['raw_ann_info']``, kept by
  ``PackPoseInputs``), checked with the pre-flight check's own rules
  (:func:`~kp_plugins.utils.data_file_checks.annotation_field_problems`):
  non-finite numbers, visibility outside 0, 1, 2, an area <= 0;
- the ground truth the pipeline made of it (``gt_instances``: keypoints,
  boxes, areas; ``gt_instance_labels``: keypoint weights): values that are
  not finite (e.g. a coordinate too large for float32), areas <= 0,
  negative weights.
"""
from typing import Any, Iterable, List

import numpy as np

from .data_file_checks import FIELD_PROBLEMS, annotation_field_problems

#: gt_instances / gt_instance_labels fields checked, with the lowest value
#: each may hold (None: any finite value).
TARGET_FIELDS = {
    'keypoints': None, 'keypoints_visible': 0.0, 'bboxes': None, 'bbox_scales': None,
    'areas': 'positive', 'keypoint_weights': 0.0,
}


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _target_problems(sample: Any) -> List[str]:
    found = []
    for group in ('gt_instances', 'gt_instance_labels'):
        data = getattr(sample, group, None)
        if data is None:
            continue
        for key, lowest in TARGET_FIELDS.items():
            if key not in data:
                continue
            try:
                values = _as_array(data.get(key))
            except (TypeError, ValueError):
                continue
            if not np.isfinite(values).all():
                found.append(f'{group}.{key} holds {np.count_nonzero(~np.isfinite(values))} '
                             'values that are not finite')
            elif lowest == 'positive' and (values <= 0).any():
                found.append(f'{group}.{key} = {values.min():g} (zero or negative)')
            elif lowest is not None and lowest != 'positive' and (values < lowest).any():
                found.append(f'{group}.{key} = {values.min():g} (negative)')
    return found


def annotation_problems_in_batch(data_samples: Iterable[Any]) -> List[str]:
    """One line per data sample whose annotation or targets hold a value
    that can make a loss non-finite: ``'image 3 (images/000003.jpg),
    annotation 6: area -5.0 is zero or negative ...'``; empty when none."""
    lines = []
    for sample in data_samples or []:
        meta = getattr(sample, 'metainfo', {}) or {}
        raws = meta.get('raw_ann_info')
        raws = raws if isinstance(raws, (list, tuple)) else [raws] if raws else []
        problems = []
        ann_ids = []
        for raw in raws:
            if not isinstance(raw, dict):
                continue
            ann_ids.append(raw.get('id'))
            for kind, detail in annotation_field_problems(raw):
                field, why = FIELD_PROBLEMS.get(kind, (kind, 'is not finite'))
                problems.append(f'{field} {why.split(" (")[0]}: {detail}')
        problems += _target_problems(sample)
        if problems:
            ann = meta.get('id', ann_ids[0] if len(ann_ids) == 1 else ann_ids or '?')
            lines.append(f'image {meta.get("img_id", "?")} ({meta.get("img_path", "?")}), '
                         f'annotation {ann}: ' + '; '.join(problems))
    return lines
