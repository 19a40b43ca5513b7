"""MMPose dataset metainfo (keypoint names, flip pairs, sigmas, skeleton),
loaded one way for every tool, and the COCO ``categories`` entry built from
it.

Symbols: ``K`` keypoints.
"""
from typing import List, Optional, Union

from .paths import resolve_metainfo_path


def load_pose_metainfo(metainfo: Union[str, dict, None] = None) -> dict:
    """Parse an MMPose dataset metainfo (default: MMPose's COCO-17).

    Args:
        metainfo: a metainfo file such as ``configs/_base_/datasets/coco.py``
            (MMPose's packaged copy is used when the path does not exist
            locally, see :func:`~kp_plugins.utils.paths.resolve_metainfo_path`),
            a dict ``dict(from_file=...)``, or a raw metainfo dict.

    Returns:
        dict: MMPose's parsed metainfo (``num_keypoints``, ``flip_indices``,
        ``sigmas`` (K,), ``keypoint_id2name``, ``skeleton_links``, ...).

    Raises:
        FileNotFoundError: the file is found neither locally nor in MMPose.
    """
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    if metainfo is None or isinstance(metainfo, str):
        metainfo = dict(from_file=metainfo)
    if 'from_file' in metainfo:
        metainfo = dict(metainfo, from_file=resolve_metainfo_path(metainfo['from_file']))
    return parse_pose_metainfo(dict(metainfo))


def keypoint_names(meta: dict) -> List[str]:
    """The ``K`` keypoint names of a parsed metainfo (the index when unnamed)."""
    id2name = meta.get('keypoint_id2name', {})
    return [id2name.get(i, str(i)) for i in range(meta['num_keypoints'])]


def coco_skeleton(meta: dict) -> List[List[int]]:
    """The skeleton links of a parsed metainfo, 1-based as COCO json stores them."""
    return [[int(a) + 1, int(b) + 1] for a, b in meta['skeleton_links']]


def coco_person_category(meta: Optional[dict] = None) -> dict:
    """COCO's person category (id 1) with the keypoint names and skeleton of
    ``meta`` (default: MMPose's COCO-17)."""
    meta = meta if meta is not None else load_pose_metainfo()
    return dict(id=1, name='person', supercategory='person', keypoints=keypoint_names(meta),
                skeleton=coco_skeleton(meta))
