"""COCO person-keypoint datasets -> Ultralytics YOLO-pose datasets.

Symbols: ``N`` persons in an image, ``K`` keypoints per person, image size
``[W, H]`` in pixels.

:func:`coco_to_yolo` writes, for every split::

    <out>/images/<split>/<file_name>   symlink to (or copy of) the COCO image
    <out>/labels/<split>/<stem>.txt    one row per person (N rows, maybe 0):
        cls cx cy w h  x_1 y_1 v_1 ... x_K y_K v_K
    <out>/data.yaml                    path, train/val[/test], names, kpt_shape,
                                       flip_idx, kpt_names, kpt_oks_sigmas
    <out>/conversion.json              source files and the counts below

in the format of :mod:`kp_plugins.ultralytics.yolo_format` (coordinates
divided by ``[W, H]``, 6 decimals; ``v`` keeps COCO's visibility).

How the people that YOLO-pose cannot hold are handled (each one is counted
in ``conversion.json`` and printed by ``tools/coco2yolo.py``):

* crowd regions (``iscrowd=1``) are dropped: YOLO labels have no crowd flag.
* persons with a zero-area box (after clipping) are dropped.
* persons with no labelled keypoint are kept: a box with all-zero keypoints,
  so the detector still learns them (as Ultralytics' own converter does).
* boxes reaching outside the image are clipped to it; labelled keypoints
  outside the image become unlabelled (YOLO labels must lie in ``[0, 1]``).

:func:`cached_coco_to_yolo` converts once into kp_plugins' cache folder
(``$KP_PLUGINS_CACHE/yolo``) and reuses the result.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from ..utils.cache import build_folder_once
from ..utils.metainfo import load_pose_metainfo
from ..utils.paths import COCO_METAINFO
from ..utils.paths import cache_root as kp_cache_root
from .yolo_format import format_label_rows, image_size, img2label_path, yolo_pose_fields

DEFAULT_METAINFO = COCO_METAINFO
CONVERTER_VERSION = 1

SplitSources = Mapping[str, Tuple[str, str]]  # split -> (ann_file, img_dir)


class CocoAnnotationError(ValueError):
    """A COCO annotation file cannot be converted; the message names the entry."""



def default_cache_root() -> str:
    """``$KP_PLUGINS_CACHE/yolo`` (default ``~/.cache/kp_plugins/yolo``, see
    :func:`~kp_plugins.utils.paths.cache_root`)."""
    return kp_cache_root('yolo')


def conversion_key(splits: SplitSources, copy_images: bool, metainfo: Optional[str]) -> str:
    """A hash naming one conversion: source paths, their size and mtime, options."""
    parts = {'version': CONVERTER_VERSION, 'copy': bool(copy_images),
             'metainfo': osp.abspath(metainfo) if metainfo and osp.exists(metainfo) else metainfo,
             'splits': {}}
    for split, (ann_file, img_dir) in sorted(splits.items()):
        stat = os.stat(ann_file)
        parts['splits'][split] = [osp.abspath(ann_file), stat.st_size, stat.st_mtime_ns,
                                  osp.abspath(img_dir)]
    return hashlib.sha1(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------- COCO -> YOLO
def coco_person_to_row(ann: dict, cls: int, width: int, height: int, num_keypoints: int,
                       counts: Dict[str, int]) -> Optional[np.ndarray]:
    """One COCO annotation -> one YOLO-pose row, or None when it is dropped.

    Args:
        ann (dict): a COCO annotation (``bbox`` [x, y, w, h], ``keypoints``
            K*3, ``iscrowd``).
        cls (int): its YOLO class index.
        width, height (int): image size ``W``, ``H``.
        num_keypoints (int): ``K``.
        counts (dict): tallies of what was dropped or changed, updated in place.

    Returns:
        np.ndarray | None: ``(5 + 3K,)`` = cls, cx, cy, w, h, K x (x, y, v),
        coordinates normalized to ``[0, 1]``.
    """
    if ann.get('iscrowd', 0):
        counts['crowd_dropped'] += 1
        return None
    if 'bbox' not in ann or len(ann['bbox']) != 4:
        raise CocoAnnotationError(f'annotation id {ann.get("id")}: "bbox" must be [x, y, w, h], '
                                  f'got {ann.get("bbox")!r}')
    x, y, w, h = (float(v) for v in ann['bbox'])
    x1, x2 = np.clip([x, x + w], 0, width)
    y1, y2 = np.clip([y, y + h], 0, height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        counts['no_box_dropped'] += 1
        return None
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        counts['boxes_clipped'] += 1

    kpts = np.zeros((num_keypoints, 3), dtype=np.float64)
    if ann.get('keypoints'):
        raw = np.asarray(ann['keypoints'], dtype=np.float64)
        if raw.size != 3 * num_keypoints:
            raise CocoAnnotationError(
                f'annotation id {ann.get("id")}: {raw.size} keypoint values, expected '
                f'{3 * num_keypoints} ({num_keypoints} keypoints x (x, y, v)); pass the '
                'metainfo of this dataset (--metainfo)')
        kpts = raw.reshape(num_keypoints, 3)
    visibility = kpts[:, 2]
    if not np.isin(visibility, (0, 1, 2)).all():
        raise CocoAnnotationError(f'annotation id {ann.get("id")}: keypoint visibility must be '
                                  f'0, 1 or 2, got {sorted(set(kpts[:, 2].tolist()))}')
    labelled = visibility > 0
    outside = labelled & ((kpts[:, 0] < 0) | (kpts[:, 0] > width) |
                          (kpts[:, 1] < 0) | (kpts[:, 1] > height))
    counts['keypoints_outside_unlabelled'] += int(outside.sum())
    labelled &= ~outside
    if not labelled.any():
        counts['zero_keypoint_persons'] += 1

    norm = np.zeros((num_keypoints, 3), dtype=np.float64)
    norm[labelled, 0] = kpts[labelled, 0] / width
    norm[labelled, 1] = kpts[labelled, 1] / height
    norm[labelled, 2] = visibility[labelled]
    box = [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]
    return np.concatenate([[cls], box, norm.reshape(-1)])



def _check_out_dir(out_dir: str, overwrite: bool) -> None:
    ours = ('images', 'labels', 'data.yaml', 'conversion.json')
    if not osp.isdir(out_dir) or not os.listdir(out_dir):
        return
    if not overwrite:
        raise FileExistsError(f'output folder {out_dir} is not empty; choose another folder or '
                              'pass overwrite=True (--overwrite) to replace '
                              f'{", ".join(ours)} in it')
    for name in ours:
        path = osp.join(out_dir, name)
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        elif osp.lexists(path):
            os.remove(path)


def _refuse_shared_destination(out_dir: str, sources: SplitSources) -> None:
    """Never write into an image folder being read, nor into the annotation
    folder itself (the source data may be shared and read-only)."""
    out_real = osp.realpath(out_dir)
    for ann_file, img_dir in sources.values():
        img_real, ann_real = osp.realpath(img_dir), osp.dirname(osp.realpath(ann_file))
        if out_real == ann_real or out_real == img_real or out_real.startswith(img_real + os.sep):
            raise ValueError(f'output folder {out_dir} is a source data folder ({img_dir} or the '
                             f'folder of {ann_file}) or lies inside the image folder; write the '
                             'YOLO dataset elsewhere (the source may be shared and read-only)')


def coco_to_yolo(splits: SplitSources,
                 out_dir: str,
                 copy_images: bool = False,
                 metainfo: Optional[str] = None,
                 overwrite: bool = False,
                 check_image_sizes: bool = True,
                 dataset_root: Optional[str] = None) -> dict:
    """Convert COCO keypoint splits into one Ultralytics YOLO-pose dataset.

    Args:
        splits (Mapping[str, tuple[str, str]]): split name (``train``, ``val``,
            ``test``) -> (COCO annotation json, folder its ``file_name`` are
            relative to).
        out_dir (str): folder to write (created; must be empty unless
            ``overwrite``); never inside the source folders.
        copy_images (bool): copy the images instead of symlinking them.
        metainfo (str, optional): MMPose metainfo file giving K, flip pairs,
            keypoint names and sigmas; default MMPose's COCO-17.
        overwrite (bool): replace a previous conversion in ``out_dir``.
        check_image_sizes (bool): compare each image file's size with the
            json's ``width``/``height`` (normalization uses them).
        dataset_root (str, optional): the ``path`` written into data.yaml
            when the folder will be moved there afterwards; default ``out_dir``.

    Returns:
        dict: the report written to ``conversion.json``: ``data_yaml`` and
        per split ``images``, ``persons_in``, ``persons_written``,
        ``crowd_dropped``, ``no_box_dropped``, ``zero_keypoint_persons``,
        ``boxes_clipped``, ``keypoints_outside_unlabelled``.
    """
    import yaml

    if not splits:
        raise ValueError('no split to convert: give at least one of train/val/test')
    for split, (ann_file, img_dir) in splits.items():
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'{split}: COCO annotation file {ann_file} does not exist')
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'{split}: image folder {img_dir} does not exist')
    _refuse_shared_destination(out_dir, splits)
    _check_out_dir(out_dir, overwrite)
    meta = load_pose_metainfo(metainfo)
    num_keypoints = int(meta['num_keypoints'])
    out_dir = osp.abspath(out_dir)
    class_names: Optional[List[str]] = None
    report: dict = OrderedDict(splits=OrderedDict())

    for split, (ann_file, img_dir) in splits.items():
        with open(ann_file) as f:
            try:
                coco = json.load(f)
            except json.JSONDecodeError as e:
                raise CocoAnnotationError(f'{ann_file}: not valid JSON ({e})') from e
        for key in ('images', 'annotations', 'categories'):
            if key not in coco:
                raise CocoAnnotationError(
                    f'{ann_file}: no "{key}" list; not a COCO annotation file')
        cat_ids = sorted(c['id'] for c in coco['categories'])
        names = [next(c['name'] for c in coco['categories'] if c['id'] == i) for i in cat_ids]
        if class_names is None:
            class_names = names
        elif names != class_names:
            raise CocoAnnotationError(f'{ann_file}: categories {names} differ from the other '
                                      f'splits\' {class_names}')
        cat_to_cls = {cat_id: i for i, cat_id in enumerate(cat_ids)}

        anns_by_image: Dict[int, List[dict]] = {img['id']: [] for img in coco['images']}
        for ann in coco['annotations']:
            if ann.get('image_id') not in anns_by_image:
                raise CocoAnnotationError(f'{ann_file}: annotation id {ann.get("id")} refers to '
                                          f'image id {ann.get("image_id")}, which is not in '
                                          '"images"')
            if ann.get('category_id') not in cat_to_cls:
                raise CocoAnnotationError(f'{ann_file}: annotation id {ann.get("id")} has '
                                          f'category_id {ann.get("category_id")}, not in '
                                          '"categories"')
            anns_by_image[ann['image_id']].append(ann)

        counts = OrderedDict((k, 0) for k in (
            'images', 'persons_in', 'persons_written', 'crowd_dropped', 'no_box_dropped',
            'zero_keypoint_persons', 'boxes_clipped', 'keypoints_outside_unlabelled'))
        seen_files = set()
        for img in coco['images']:
            file_name = img['file_name']
            if osp.isabs(file_name) or '..' in file_name.split('/'):
                raise CocoAnnotationError(f'{ann_file}: image id {img["id"]}: file_name '
                                          f'{file_name!r} must be relative to the image folder')
            if file_name in seen_files:
                raise CocoAnnotationError(f'{ann_file}: file_name {file_name!r} appears twice')
            seen_files.add(file_name)
            src = osp.join(img_dir, file_name)
            if not osp.isfile(src):
                raise FileNotFoundError(f'{ann_file}: image id {img["id"]}: {src} does not exist')
            width, height = int(img['width']), int(img['height'])
            if check_image_sizes:
                actual = image_size(src)
                if actual != (width, height):
                    raise CocoAnnotationError(
                        f'{ann_file}: image id {img["id"]} ({src}) is {actual[0]}x{actual[1]} '
                        f'(EXIF rotation applied) but the json says {width}x{height}')
            rows = []
            for ann in anns_by_image[img['id']]:
                counts['persons_in'] += 1
                row = coco_person_to_row(ann, cat_to_cls[ann['category_id']], width, height,
                                         num_keypoints, counts)
                if row is not None:
                    rows.append(row)
            counts['persons_written'] += len(rows)
            counts['images'] += 1

            dst = osp.join(out_dir, 'images', split, file_name)
            os.makedirs(osp.dirname(dst), exist_ok=True)
            if copy_images:
                shutil.copy2(src, dst)
            else:
                os.symlink(osp.abspath(src), dst)
            label_file = img2label_path(dst)
            os.makedirs(osp.dirname(label_file), exist_ok=True)
            with open(label_file, 'w') as f:
                f.write(format_label_rows(rows))
        report['splits'][split] = OrderedDict(
            ann_file=osp.abspath(ann_file), img_dir=osp.abspath(img_dir), **counts)

    dataset_root = osp.abspath(dataset_root or out_dir)
    data = dict(path=dataset_root)
    for split in splits:
        data[split] = f'images/{split}'
    data['names'] = {i: name for i, name in enumerate(class_names)}
    data.update(yolo_pose_fields(meta))
    data_yaml = osp.join(out_dir, 'data.yaml')
    header = ('# Ultralytics YOLO-pose dataset written by kp_plugins (tools/coco2yolo.py)\n'
              f'# from {", ".join(report["splits"][s]["ann_file"] for s in splits)};\n'
              '# crowd regions dropped, persons without keypoints kept as boxes '
              '(counts in conversion.json)\n')
    with open(data_yaml, 'w') as f:
        f.write(header)
        yaml.safe_dump(data, f, sort_keys=False, default_flow_style=None)
    report['data_yaml'] = osp.join(dataset_root, 'data.yaml')
    report['metainfo'] = metainfo or DEFAULT_METAINFO
    report['copy_images'] = bool(copy_images)
    with open(osp.join(out_dir, 'conversion.json'), 'w') as f:
        json.dump(report, f, indent=2)
    return report


def cached_coco_to_yolo(splits: SplitSources,
                        cache_root: Optional[str] = None,
                        copy_images: bool = False,
                        metainfo: Optional[str] = None) -> dict:
    """:func:`coco_to_yolo` into ``<cache_root>/<hash>`` (default
    ``~/.cache/kp_plugins/yolo``), reusing a finished conversion of the same
    sources and options. Written to a temporary folder first and renamed
    (:func:`~kp_plugins.utils.cache.build_folder_once`), so an interrupted
    run leaves no half dataset behind.

    Returns:
        dict: the conversion report (``data_yaml`` is the dataset YAML,
        ``cached`` says whether an earlier conversion was reused).
    """
    cache_root = cache_root or default_cache_root()
    final = osp.join(cache_root, conversion_key(splits, copy_images, metainfo))

    def convert(tmp: str) -> None:
        coco_to_yolo(splits, tmp, copy_images, metainfo, dataset_root=final)

    built = build_folder_once(final, convert, done_file='conversion.json')
    with open(osp.join(final, 'conversion.json')) as f:
        report = json.load(f)
    report['cached'] = not built
    return report


def coco_splits(data_root: Optional[str], train_ann: Optional[str] = None,
                val_ann: Optional[str] = None, test_ann: Optional[str] = None,
                img_dir: Union[str, Mapping[str, str]] = 'images/') -> Dict[str, Tuple[str, str]]:
    """Build the ``splits`` argument of :func:`coco_to_yolo` from an MMPose
    style layout: paths relative to ``data_root`` (MMPose's ``data_root``,
    ``ann_file``, ``data_prefix.img``); ``img_dir`` may differ per split."""
    def join(path: str) -> str:
        return path if osp.isabs(path) or not data_root else osp.join(data_root, path)

    splits = OrderedDict()
    for split, ann in (('train', train_ann), ('val', val_ann), ('test', test_ann)):
        if ann:
            folder = img_dir[split] if isinstance(img_dir, Mapping) else img_dir
            splits[split] = (join(ann), join(folder))
    return splits
