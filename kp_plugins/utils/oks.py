"""COCO object keypoint similarity (OKS), written once for every loss, head
and test that needs it.

Symbols: ``B`` instances, ``K`` keypoints.

The formula is the one of ``COCOeval.computeOks`` (xtcocotools and
pycocotools)::

    vars = (2 * sigma_k) ** 2
    e_k  = d_k ** 2 / vars / (area + np.spacing(1)) / 2
    OKS  = sum_k [v_k > 0] * exp(-e_k) / sum_k [v_k > 0]

``d_k`` and ``area`` must be in the same units (image pixels and pixels^2,
or any isotropically scaled frame and its squared unit); converting to a
head's frame is the codec's job.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

#: COCO's 17 person-keypoint sigmas (nose, eyes, ears, shoulders, elbows,
#: wrists, hips, knees, ankles), as in ``COCOeval.Params.kpt_oks_sigmas``.
COCO_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
    .87, .89, .89
], dtype=np.float64) / 10.0

#: ``COCOeval`` adds this to the area before dividing by it.
OKS_AREA_EPS = float(np.spacing(1))


def load_sigmas(sigmas: Optional[Sequence[float]] = None,
                metainfo: Union[str, dict, None] = None) -> np.ndarray:
    """Return per-keypoint OKS sigmas, shape (K,).

    Args:
        sigmas: explicit sigmas; wins over ``metainfo``.
        metainfo: an MMPose dataset-info file (e.g.
            ``'configs/_base_/datasets/coco.py'`` of MMPose, found by
            :func:`~kp_plugins.utils.paths.resolve_metainfo_path`), a dict with
            ``from_file``, or a parsed/raw metainfo dict holding ``sigmas``.

    With neither given, COCO's 17 sigmas are returned.
    """
    if sigmas is not None:
        values = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        source = 'sigmas'
    elif metainfo is not None:
        info = metainfo
        if isinstance(info, str):
            info = dict(from_file=info)
        if not isinstance(info, dict):
            raise TypeError('metainfo must be a path or a dict, got '
                            f'{type(metainfo).__name__}')
        if 'sigmas' not in info:
            if 'from_file' not in info:
                raise ValueError(
                    'metainfo has neither "sigmas" nor "from_file"; give the '
                    'per-keypoint OKS sigmas explicitly (sigmas=[...])')
            from .metainfo import load_pose_metainfo
            info = load_pose_metainfo(info)
        if 'sigmas' not in info or len(info['sigmas']) == 0:
            raise ValueError(f'metainfo {metainfo!r} defines no "sigmas"; OKS '
                             'needs one sigma per keypoint')
        values = np.asarray(info['sigmas'], dtype=np.float64).reshape(-1)
        source = f'metainfo {metainfo!r}'
    else:
        return COCO_SIGMAS.copy()
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(
            values <= 0):
        raise ValueError(f'OKS sigmas from {source} must be finite and > 0, '
                         f'got {values.tolist()}')
    return values


def keypoint_oks(pred: Tensor, target: Tensor, areas: Tensor,
                 sigmas: Tensor) -> Tensor:
    """Per-keypoint similarity ``exp(-e_k)``, shape (B, K).

    Args:
        pred: predicted coordinates, (B, K, 2).
        target: ground-truth coordinates, (B, K, 2), same units as ``pred``.
        areas: instance areas in squared units of the coordinates, (B,).
        sigmas: per-keypoint sigmas, (K,).
    """
    if sigmas.numel() != pred.shape[1]:
        raise ValueError(f'OKS has {sigmas.numel()} sigmas but the prediction '
                         f'has {pred.shape[1]} keypoints; set the loss\'s '
                         '`sigmas` or `metainfo` to match the dataset')
    squared_dist = ((pred - target)**2).sum(dim=-1)
    variances = (2 * sigmas)**2
    e = squared_dist / variances / (areas[:, None] + OKS_AREA_EPS) / 2
    return torch.exp(-e)


def instance_oks(pred: Tensor, target: Tensor, mask: Tensor, areas: Tensor,
                 sigmas: Tensor) -> Tuple[Tensor, Tensor]:
    """COCO OKS of each instance over its labelled keypoints.

    Args:
        pred, target: (B, K, 2), same units.
        mask: (B, K), true where the keypoint is labelled.
        areas: (B,), squared units of the coordinates.
        sigmas: (K,).

    Returns:
        ``(oks, valid)``: OKS per instance (B,) (0 where no keypoint is
        labelled) and whether the instance has a labelled keypoint (B,).
        Unlabelled keypoints and instances without labels do not enter the
        result or its gradient, whatever their values (NaN included).
    """
    labelled = mask.bool()
    valid = labelled.any(dim=1)
    # torch.where, not a product: an unlabelled keypoint, or an instance
    # without any, stays out of the result and of the gradient even where
    # its prediction, target or area is NaN or inf (0 * NaN is NaN)
    zero = torch.zeros((), dtype=pred.dtype, device=pred.device)
    pred = torch.where(labelled[..., None], pred, zero)
    target = torch.where(labelled[..., None], target, zero)
    areas = torch.where(valid, areas, torch.ones((), dtype=areas.dtype,
                                                 device=areas.device))
    similarity = torch.where(labelled,
                             keypoint_oks(pred, target, areas, sigmas), zero)
    count = labelled.to(pred.dtype).sum(dim=1)
    oks = similarity.sum(dim=1) / count.clamp(min=1)
    return oks, valid


def annotation_oks(pred: np.ndarray, ann: dict,
                   sigmas: Optional[Sequence[float]] = None) -> np.ndarray:
    """COCO OKS of several keypoint sets against one COCO annotation, as
    xtcocotools' computeOks scores them (the annotation's ``area``, its
    labelled keypoints only).

    Args:
        pred: (N, K, 2) keypoint sets in image pixels.
        ann: a COCO annotation with ``keypoints`` (K * 3 values) and ``area``.
        sigmas: (K,); default COCO's 17.

    Returns:
        (N,) float64 OKS.
    """
    gt = torch.as_tensor(ann['keypoints'], dtype=torch.float64).reshape(-1, 3)
    pred = torch.as_tensor(np.asarray(pred), dtype=torch.float64)
    n = pred.shape[0]
    value, _ = instance_oks(pred, gt[None, :, :2].expand(n, -1, -1),
                            (gt[:, 2] > 0)[None].expand(n, -1),
                            torch.full((n, ), float(ann['area']), dtype=torch.float64),
                            torch.as_tensor(COCO_SIGMAS if sigmas is None else sigmas,
                                            dtype=torch.float64))
    return value.numpy()
