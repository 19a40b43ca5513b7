"""Deterministic synthetic people in COCO person-keypoints format: splits
of images drawn by :mod:`kp_plugins.datasets.synthetic_drawing`, written as
COCO files and cached.

Every image is drawn from its own random stream, ``(seed, split, index)``, so
a set is the same on every machine and run, whatever order it is drawn in.
A split is written once into a cache folder::

    <cache>/<split>_<N>_<W>x<H>_seed<S>_<hash>/
        annotations.json    COCO person keypoints (17 COCO keypoints)
        images/000001.jpg ...

and read back by MMPose's own ``CocoDataset`` (see
:class:`~kp_plugins.datasets.synthetic_pose_dataset.KPSyntheticPoseDataset`).
``<cache>`` is ``cache_dir`` when given, else ``$KP_PLUGINS_CACHE/synthetic``,
else ``$XDG_CACHE_HOME/kp_plugins/synthetic``, else
``~/.cache/kp_plugins/synthetic``. A split is generated in a temporary folder
beside its final one and renamed into place, under a file lock, so parallel
processes (distributed ranks, dataloader workers) never see half a set
(:func:`~kp_plugins.utils.cache.build_folder_once`).

Annotations: one per figure, ``category_id = 1``, with the ``keypoints``,
``bbox``, ``area`` and ``num_keypoints`` of
:func:`~kp_plugins.datasets.synthetic_drawing.render_image` (pixel values
rounded to 2 decimals) and ``iscrowd = 0``. Images carry ``width``,
``height`` and ``file_name``; the json also has the standard ``categories``
entry (keypoint names and skeleton) and an ``info`` entry with the
generation parameters.
"""
import hashlib
import json
import os
import os.path as osp
import time
import zlib
from dataclasses import asdict, dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log

from ..utils.cache import build_folder_once
from ..utils.metainfo import coco_person_category
from ..utils.paths import cache_root
from .synthetic_drawing import (
    GENERATOR_VERSION,
    KEYPOINT_NAMES,  # noqa: F401  (re-exported)
    LAYOUTS,
    render_image,
)

#: Most figures per image of each layout.
MAX_PEOPLE = dict(random=8, grid=64)
#: Persons per image of the crowd benchmark's scenes.
CROWD_SIZES = (1, 2, 4, 8, 16, 32)
#: The quick start's splits (configs/_base_/datasets/synthetic_people.py,
#: read by configs/quickstart.py and configs/quickstart_yolo.py): images per
#: split, their ``(width, height)`` and seed.
QUICKSTART_IMAGES = dict(train=2000, val=200)
QUICKSTART_IMG_SIZE = (256, 256)
QUICKSTART_SEED = 0


@dataclass(frozen=True)
class SyntheticSplitSpec:
    """Everything that decides the content of one generated split.

    Args:
        split (str): split name (``'train'``, ``'val'``...); part of the
            random stream, so splits of the same seed differ.
        num_images (int): number of images.
        img_size (tuple[int, int]): image ``(width, height)`` in pixels.
        seed (int): base seed.
        min_people (int): fewest figures per image.
        max_people (int): most figures per image.
        image_format (str): ``'jpg'`` (quality 92) or ``'png'``.
        layout (str): ``'random'`` (up to 8 figures anywhere) or ``'grid'``
            (crowd scenes, up to 64 figures, smaller as they are more; see
            :func:`~kp_plugins.datasets.synthetic_drawing.render_image`).
    """
    split: str = 'train'
    num_images: int = 1000
    img_size: Tuple[int, int] = (256, 256)
    seed: int = 0
    min_people: int = 1
    max_people: int = 4
    image_format: str = 'jpg'
    layout: str = 'random'
    version: int = field(default=GENERATOR_VERSION)

    def __post_init__(self) -> None:
        def bad(msg: str) -> ValueError:
            return ValueError(f'synthetic people dataset: {msg}')

        if not isinstance(self.split, str) or not self.split or \
                not self.split.replace('-', '').replace('_', '').isalnum():
            raise bad(f'split must be a non-empty name of letters, digits, '
                      f'"-" or "_", got {self.split!r}')
        if not isinstance(self.num_images, int) or isinstance(self.num_images, bool) \
                or self.num_images < 1:
            raise bad(f'num_images must be an integer >= 1, got {self.num_images!r}')
        size = tuple(self.img_size) if isinstance(self.img_size, (list, tuple)) else None
        if size is None or len(size) != 2 or not all(
                isinstance(s, int) and not isinstance(s, bool) and 64 <= s <= 4096
                for s in size):
            raise bad('img_size must be (width, height), two integers in '
                      f'[64, 4096], got {self.img_size!r}')
        object.__setattr__(self, 'img_size', size)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise bad(f'seed must be an integer >= 0, got {self.seed!r}')
        if self.layout not in LAYOUTS:
            raise bad(f'layout must be one of {LAYOUTS}, got {self.layout!r}')
        most = MAX_PEOPLE[self.layout]
        if not (isinstance(self.min_people, int) and isinstance(self.max_people, int)
                and 1 <= self.min_people <= self.max_people <= most):
            raise bad(f'need 1 <= min_people <= max_people <= {most} '
                      f'(layout {self.layout!r}), got '
                      f'min_people={self.min_people!r}, max_people={self.max_people!r}')
        if self.image_format not in ('jpg', 'png'):
            raise bad(f"image_format must be 'jpg' or 'png', got {self.image_format!r}")

    @property
    def key(self) -> str:
        """Short hash of every field (the cache key); the default layout is
        left out, so splits made before layouts existed keep their key."""
        fields = asdict(self)
        if fields['layout'] == 'random':
            del fields['layout']
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:10]

    @property
    def dirname(self) -> str:
        w, h = self.img_size
        return f'{self.split}_{self.num_images}_{w}x{h}_seed{self.seed}_{self.key}'


def default_cache_root() -> str:
    """Root folder of generated sets (see the module docstring)."""
    return cache_root('synthetic')


def image_rng(spec: SyntheticSplitSpec, index: int) -> np.random.Generator:
    """The random stream of image ``index`` (0-based) of a split."""
    split_code = zlib.crc32(spec.split.encode())
    return np.random.default_rng([spec.seed, split_code, index, spec.version])


def _round(v: float) -> float:
    return float(round(float(v), 2))


def iter_split(spec: SyntheticSplitSpec) -> Iterator[Tuple[int, np.ndarray, List[dict]]]:
    """Yield ``(index, image, people)`` for every image of a split."""
    for idx in range(spec.num_images):
        image, people = render_image(image_rng(spec, idx), spec.img_size,
                                     spec.min_people, spec.max_people, spec.layout)
        yield idx, image, people


def write_split(spec: SyntheticSplitSpec, out_dir: str) -> Dict[str, int]:
    """Generate a split into ``out_dir`` (``annotations.json`` + ``images/``).

    Returns:
        dict: ``images`` and ``annotations`` counts.
    """
    img_dir = osp.join(out_dir, 'images')
    os.makedirs(img_dir, exist_ok=True)
    w, h = spec.img_size
    ext = '.jpg' if spec.image_format == 'jpg' else '.png'
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == '.jpg' else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    images, annotations = [], []
    for idx, image, people in iter_split(spec):
        img_id = idx + 1
        file_name = f'{img_id:06d}{ext}'
        ok, buf = cv2.imencode(ext, image, params)
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {file_name}')
        buf.tofile(osp.join(img_dir, file_name))
        images.append(dict(id=img_id, file_name=file_name, width=w, height=h))
        for person in people:
            kpts = person['keypoints']
            flat = []
            for x, y, v in kpts:
                flat += [_round(x), _round(y), int(v)]
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=1, iscrowd=0,
                keypoints=flat, num_keypoints=person['num_keypoints'],
                bbox=[_round(b) for b in person['bbox']], area=_round(person['area'])))
    coco = dict(
        info=dict(description='kp_plugins synthetic people (deterministic, generated)',
                  version=str(spec.version), **{k: v for k, v in asdict(spec).items()
                                               if k != 'version'}),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[coco_person_category()])
    with open(osp.join(out_dir, 'annotations.json'), 'w') as f:
        json.dump(coco, f, separators=(',', ':'), sort_keys=True)
    with open(osp.join(out_dir, 'params.json'), 'w') as f:
        json.dump(asdict(spec), f, indent=1, sort_keys=True)
    return dict(images=len(images), annotations=len(annotations))


def split_dir(spec: SyntheticSplitSpec, cache_dir: Optional[str] = None) -> str:
    """Where a split lives (generated or not)."""
    root = cache_dir if cache_dir else default_cache_root()
    return osp.join(osp.abspath(osp.expanduser(root)), spec.dirname)


def ensure_split(spec: SyntheticSplitSpec, cache_dir: Optional[str] = None) -> str:
    """Generate a split unless its folder is already complete; return the
    folder (holding ``annotations.json`` and ``images/``)."""
    final = split_dir(spec, cache_dir)
    root = osp.dirname(final)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError as exc:
        raise OSError(f'cannot create the synthetic data cache {root!r} ({exc}); '
                      'pass cache_dir=... or set KP_PLUGINS_CACHE to a writable '
                      'folder') from exc

    def generate(tmp: str) -> None:
        print_log(f'Generating the synthetic {spec.split!r} split ({spec.num_images} '
                  f'images of {spec.img_size[0]}x{spec.img_size[1]}, seed {spec.seed}) '
                  f'into {final} ...', logger='current')
        start = time.perf_counter()
        counts = write_split(spec, tmp)
        print_log(f'... {counts["images"]} images, {counts["annotations"]} people '
                  f'in {time.perf_counter() - start:.1f} s', logger='current')

    build_folder_once(final, generate, done_file='annotations.json')
    return final


def synthetic_ann_file(split: str = 'val', cache_dir: Optional[str] = None,
                       **spec_kwargs) -> str:
    """Path of a split's ``annotations.json``, generating the split if needed
    (e.g. for ``CocoMetric(ann_file=...)`` in a script)."""
    spec = SyntheticSplitSpec(split=split, **spec_kwargs)
    return osp.join(ensure_split(spec, cache_dir), 'annotations.json')


def quickstart_split(split: str, num_images: Optional[int] = None,
                     cache_dir: Optional[str] = None) -> Tuple[str, str]:
    """The quick start's ``'train'`` or ``'val'`` split (:data:`QUICKSTART_IMAGES`,
    :data:`QUICKSTART_IMG_SIZE`, :data:`QUICKSTART_SEED`; ``num_images``
    replaces its size), generated if needed, for tools that take COCO files
    (``tools/train_yolo.py --synthetic``).

    Returns:
        tuple: its ``annotations.json`` and image folder.
    """
    if split not in QUICKSTART_IMAGES:
        raise ValueError(f'the quick start has the splits {tuple(QUICKSTART_IMAGES)}, '
                         f'got {split!r}')
    spec = SyntheticSplitSpec(
        split=split, num_images=QUICKSTART_IMAGES[split] if num_images is None else num_images,
        img_size=QUICKSTART_IMG_SIZE, seed=QUICKSTART_SEED)
    folder = ensure_split(spec, cache_dir)
    return osp.join(folder, 'annotations.json'), osp.join(folder, 'images')


def crowd_split_spec(num_people: int, num_images: int = 20,
                     img_size: Tuple[int, int] = (640, 480), seed: int = 0,
                     image_format: str = 'jpg') -> SyntheticSplitSpec:
    """The held-out crowd scenes of ``num_people`` persons each
    (``layout='grid'``, split ``crowd<N>``): a split name of their own, so
    their random streams differ from every ``train``/``val`` split of any
    seed."""
    return SyntheticSplitSpec(split=f'crowd{num_people}', num_images=num_images,
                              img_size=tuple(img_size), seed=seed, min_people=num_people,
                              max_people=num_people, image_format=image_format,
                              layout='grid')
