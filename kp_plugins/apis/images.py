"""Where the images of a detection run or a demo come from.

An image source is a folder (searched recursively), a text file listing
images (one path a line) or a COCO annotation file plus its image root. Each
image gets the COCO ``image_id`` a bbox file refers to it by:

* COCO annotation file: the file's own ids, so the bbox file matches that
  annotation file (evaluate with it as ``ann_file``);
* folder or list: ``1..N`` in sorted path order (folder) or line order (list);
  :func:`write_image_info` then writes the matching image-info file (COCO
  ``images`` + ``categories``, no annotations), which MMPose's ``CocoDataset``
  needs as ``ann_file`` to resolve the bbox file's ``image_id``.

``file_name`` is the path relative to the image root, which ``CocoDataset``
joins with ``data_prefix.img``.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

import numpy as np

from ..utils.metainfo import coco_person_category
from ..utils.paths import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS


class ImageSourceError(ValueError):
    """A folder, list or annotation file that cannot serve as image source."""


class UnreadableImageError(OSError):
    """An image file that is missing or cannot be decoded."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f'{path}: {reason}')
        self.path = path
        self.reason = reason


@dataclass
class ImageRecord:
    """One image: its COCO id, the file to read and its COCO ``file_name``."""
    image_id: int
    path: str
    file_name: str


@dataclass
class ImageSource:
    """The images of a run.

    Attributes:
        records: the images, in processing order.
        img_root: the folder ``file_name`` is relative to (MMPose's
            ``data_prefix.img``).
        kind: ``'folder'``, ``'list'`` or ``'coco'``.
        ann_file: the COCO annotation file the ids come from (``kind ==
            'coco'``), else ``None``.
    """
    records: List[ImageRecord]
    img_root: str
    kind: str
    ann_file: Optional[str] = None


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def is_video_file(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def images_in_folder(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive), as sorted relative paths."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in files:
            if is_image_file(name):
                found.append(osp.relpath(osp.join(root, name), folder))
    return sorted(found)


def _relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root`` when it lies below it, else absolute
    (``osp.join(root, abs_path)`` is ``abs_path``, so CocoDataset still
    finds it)."""
    rel = osp.relpath(osp.abspath(path), osp.abspath(root))
    return osp.abspath(path) if rel.startswith('..') else rel


def read_image_list(list_file: str, img_root: Optional[str] = None) -> ImageSource:
    """Images named in a text file, one path a line (blank lines and lines
    starting with ``#`` skipped), relative to ``img_root`` (default: the list
    file's folder) unless absolute. Ids ``1..N`` in line order."""
    root = img_root if img_root is not None else osp.dirname(osp.abspath(list_file))
    records = []
    with open(list_file, encoding='utf-8') as f:
        for line in f:
            name = line.strip()
            if not name or name.startswith('#'):
                continue
            path = name if osp.isabs(name) else osp.join(root, name)
            records.append(ImageRecord(len(records) + 1, path, _relative_name(path, root)))
    if not records:
        raise ImageSourceError(f'image list {list_file!r} names no image')
    return ImageSource(records, osp.abspath(root), 'list')


def read_coco_images(ann_file: str, img_root: str) -> ImageSource:
    """The images of a COCO annotation file, with the file's ids; files are
    ``img_root/file_name``."""
    try:
        with open(ann_file, encoding='utf-8') as f:
            coco = json.load(f)
    except json.JSONDecodeError as exc:
        raise ImageSourceError(f'{ann_file!r} is not valid JSON: {exc}') from exc
    images = coco.get('images') if isinstance(coco, dict) else None
    if not isinstance(images, list):
        raise ImageSourceError(
            f'{ann_file!r} is not a COCO annotation file: no "images" list')
    records = []
    for i, img in enumerate(images):
        if not isinstance(img, dict) or 'id' not in img or 'file_name' not in img:
            raise ImageSourceError(
                f'{ann_file!r}: images[{i}] lacks "id" or "file_name"')
        records.append(ImageRecord(int(img['id']), osp.join(img_root, img['file_name']),
                                   img['file_name']))
    if not records:
        raise ImageSourceError(f'{ann_file!r} lists no image')
    return ImageSource(records, osp.abspath(img_root), 'coco', osp.abspath(ann_file))


def load_image_source(input_path: str, img_root: Optional[str] = None) -> ImageSource:
    """An image folder, a ``.txt`` image list or a ``.json`` COCO annotation
    file (which needs ``img_root``) as an :class:`ImageSource`."""
    if osp.isdir(input_path):
        names = images_in_folder(input_path)
        if not names:
            raise ImageSourceError(
                f'no image ({", ".join(IMAGE_EXTENSIONS)}) found in folder {input_path!r}')
        records = [ImageRecord(i + 1, osp.join(input_path, name), name)
                   for i, name in enumerate(names)]
        return ImageSource(records, osp.abspath(input_path), 'folder')
    if not osp.isfile(input_path):
        raise ImageSourceError(f'input {input_path!r} not found')
    if input_path.lower().endswith('.json'):
        if img_root is None:
            raise ImageSourceError(
                f'{input_path!r} is a COCO annotation file: give the folder its '
                '"file_name"s are relative to with --img-root')
        if not osp.isdir(img_root):
            raise ImageSourceError(f'image root {img_root!r} is not a folder')
        return read_coco_images(input_path, img_root)
    if is_image_file(input_path):
        root = img_root if img_root is not None else osp.dirname(osp.abspath(input_path))
        return ImageSource([ImageRecord(1, input_path, _relative_name(input_path, root))],
                           osp.abspath(root), 'list')
    if input_path.lower().endswith(('.txt', '.lst', '.list')):
        return read_image_list(input_path, img_root)
    raise ImageSourceError(
        f'input {input_path!r} is neither a folder, an image, a .txt image list '
        'nor a .json COCO annotation file')


def read_image(path: str) -> np.ndarray:
    """Read an image as MMPose's and MMDet's loaders do (``mmcv.imread``,
    BGR, EXIF orientation applied).

    Returns:
        np.ndarray: (H, W, 3) uint8, BGR.

    Raises:
        UnreadableImageError: the file is missing or does not decode.
    """
    import mmcv
    if not osp.isfile(path):
        raise UnreadableImageError(path, 'file not found')
    try:
        img = mmcv.imread(path)
    except Exception as exc:  # decoder errors of any backend
        raise UnreadableImageError(path, f'cannot decode ({type(exc).__name__}: {exc})') from exc
    if img is None or img.size == 0:
        raise UnreadableImageError(path, 'cannot decode (not an image or corrupt)')
    return img


def write_image_info(images: Iterable[Dict], out_file: str) -> None:
    """Write a COCO image-info file (``images`` with ``id``, ``file_name``,
    ``width``, ``height``; the person category; no annotations): the
    ``ann_file`` that lets ``CocoDataset(bbox_file=...)`` and ``CocoMetric``
    (``format_only=True``) run on images without ground truth."""
    info = dict(images=list(images), annotations=[], categories=[coco_person_category()])
    _dump_json(info, out_file)


def subset_coco_annotations(ann_file: str, image_ids: Iterable[int], out_file: str) -> int:
    """Write ``ann_file`` restricted to ``image_ids`` (their images and
    annotations, all categories).

    COCOeval scores every image of the ground-truth file, so a bbox file
    that covers only some images must be evaluated against those images
    alone, or the persons of the others count as missed.

    Returns:
        int: the number of images written.

    Raises:
        ImageSourceError: an id is not in ``ann_file``.
    """
    with open(ann_file, encoding='utf-8') as f:
        coco = json.load(f)
    wanted = {int(i) for i in image_ids}
    present = {img['id'] for img in coco['images']}
    missing = sorted(wanted - present)
    if missing:
        raise ImageSourceError(f'image ids {missing} are not in {ann_file!r}')
    coco['images'] = [img for img in coco['images'] if img['id'] in wanted]
    coco['annotations'] = [a for a in coco.get('annotations', []) if a['image_id'] in wanted]
    _dump_json(coco, out_file)
    return len(coco['images'])


def _dump_json(obj, out_file: str) -> None:
    out_dir = osp.dirname(osp.abspath(out_file))
    os.makedirs(out_dir, exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
