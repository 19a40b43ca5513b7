"""MMPose's CocoDataset over a generated synthetic people set (zero download)."""
import os.path as osp
from typing import Optional, Sequence

from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from ..utils.paths import packaged_metainfo_path
from .synthetic_people import SyntheticSplitSpec, ensure_split

# COCO's metainfo (keypoint names, sigmas, flip pairs) from the installed
# mmpose: CocoDataset names it relative to MMPose's repo and warns on every
# build when that path does not exist (an installed mmpose).
_COCO_METAINFO = packaged_metainfo_path('coco.py')


@DATASETS.register_module()
class KPSyntheticPoseDataset(CocoDataset):
    """COCO person keypoints drawn by :mod:`kp_plugins.datasets.synthetic_people`.

    On construction the split is generated once (deterministically from
    ``seed``) into a cache folder as COCO-format images and
    ``annotations.json``; the dataset is then MMPose's own ``CocoDataset``
    over those files, so pipelines, ``CocoMetric`` and MMPose's tools work
    unchanged. 17 COCO keypoints, COCO sigmas and ``flip_indices``
    (``dataset_name='coco'``).

    Evaluation: ``CocoMetric(ann_file=None)`` evaluates against this
    dataset's own ``annotations.json`` (a test-mode CocoDataset records its
    ``ann_file`` in MMEngine's MessageHub and the metric loads it from
    there); scripts that need the path can call
    :func:`~kp_plugins.datasets.synthetic_people.synthetic_ann_file` with
    the same parameters.

    Args:
        split (str): split name; ``'train'`` and ``'val'`` of one seed are
            different images. Default ``'train'``.
        num_images (int): images in the split. Default 1000.
        img_size (Sequence[int]): image ``(width, height)``. Default
            ``(256, 256)``.
        seed (int): generation seed. Default 0.
        min_people (int), max_people (int): figures per image. Default 1, 4.
        image_format (str): ``'jpg'`` or ``'png'``. Default ``'jpg'``.
        layout (str): ``'random'`` or ``'grid'`` (crowd scenes of up to 64
            smaller figures). Default ``'random'``.
        cache_dir (str, optional): folder holding generated splits; default
            ``$KP_PLUGINS_CACHE/synthetic`` or ``~/.cache/kp_plugins/synthetic``.
        **kwargs: passed to ``CocoDataset`` (``data_mode``, ``pipeline``,
            ``test_mode``, ``bbox_file``...). ``ann_file``, ``data_root`` and
            ``data_prefix`` are set by the dataset and may not be given.
    """

    #: tools/train.py's data-path check skips datasets that make their files.
    generates_data = True
    METAINFO: dict = (dict(from_file=_COCO_METAINFO) if osp.isfile(_COCO_METAINFO)
                      else CocoDataset.METAINFO)

    def __init__(self,
                 split: str = 'train',
                 num_images: int = 1000,
                 img_size: Sequence[int] = (256, 256),
                 seed: int = 0,
                 min_people: int = 1,
                 max_people: int = 4,
                 image_format: str = 'jpg',
                 layout: str = 'random',
                 cache_dir: Optional[str] = None,
                 **kwargs) -> None:
        given = [k for k in ('ann_file', 'data_root', 'data_prefix') if kwargs.get(k)]
        if given:
            raise ValueError(
                f'KPSyntheticPoseDataset writes its own files; remove {given} from '
                'the dataset config (use `_delete_=True` when inheriting a COCO '
                'dataset config) or set cache_dir=... to choose where they go')
        for k in ('ann_file', 'data_root', 'data_prefix'):
            kwargs.pop(k, None)
        self.spec = SyntheticSplitSpec(
            split=split, num_images=num_images,
            img_size=tuple(img_size) if isinstance(img_size, (list, tuple)) else img_size,
            seed=seed, min_people=min_people, max_people=max_people,
            image_format=image_format, layout=layout)
        self.split_dir = ensure_split(self.spec, cache_dir)
        super().__init__(
            ann_file=osp.join(self.split_dir, 'annotations.json'),
            data_root='',
            data_prefix=dict(img=osp.join(self.split_dir, 'images') + osp.sep),
            **kwargs)
