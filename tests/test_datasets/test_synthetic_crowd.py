"""Crowd scenes of the synthetic people (``layout='grid'``): exactly N
labelled persons per image, smaller as N grows, all labelled keypoints
inside the image, deterministic, held out from the training splits, and
the default layout's images and cache keys unchanged."""
import hashlib
import json
import os.path as osp

import numpy as np
import pytest

from kp_plugins.datasets.synthetic_drawing import crowd_grid, render_image
from kp_plugins.datasets.synthetic_people import (
    CROWD_SIZES,
    SyntheticSplitSpec,
    crowd_split_spec,
    ensure_split,
    image_rng,
)


def test_crowd_grid_by_hand():
    """The grids of 640x480 worked out by hand: the figure height of a
    rows x cols grid is min(480 / rows, 640 / cols / 0.6)."""
    expected = {1: (1, 1, 480.0), 2: (1, 2, 480.0), 4: (1, 4, 640 / 4 / 0.6),
                8: (2, 4, 240.0), 16: (3, 6, 160.0), 32: (4, 8, 120.0)}
    for n, (rows, cols, stature) in expected.items():
        got = crowd_grid(n, (640, 480))
        assert got[:2] == (rows, cols), n
        assert got[2] == pytest.approx(stature), n


@pytest.mark.parametrize('num_people', CROWD_SIZES)
def test_exactly_n_labelled_persons(num_people):
    spec = crowd_split_spec(num_people, num_images=2)
    w, h = spec.img_size
    heights = []
    for index in range(2):
        image, people = render_image(image_rng(spec, index), spec.img_size, num_people,
                                     num_people, 'grid')
        assert image.shape == (480, 640, 3)
        assert len(people) == num_people
        for person in people:
            kpts = person['keypoints']
            labelled = kpts[:, 2] > 0
            assert person['num_keypoints'] == labelled.sum() >= 2  # the hips at least
            xy = kpts[labelled, :2]
            assert np.all((xy >= 0) & (xy <= [w - 1, h - 1]))
            assert np.all(kpts[~labelled] == 0)  # unlabelled: (0, 0, 0)
            x, y, bw, bh = person['bbox']
            assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h and bw > 0 and bh > 0
            assert np.all((xy >= [x, y]) & (xy <= [x + bw, y + bh]))
            heights.append(np.ptp(person['raw_keypoints'][:, 1]))
    # a figure spans at most ~1.13 of its stature (arms raised over the head:
    # 0.30 + 0.19 + 0.15 above the hips, 0.49 below) and its stature is at
    # most 90% of the cell's
    assert max(heights) <= crowd_grid(num_people, (w, h))[2] * 1.05


def test_figures_get_smaller():
    """Median keypoint height per crowd size falls as the crowd grows."""
    medians = []
    for n in (1, 4, 16, 32):
        spec = crowd_split_spec(n, num_images=3)
        heights = [np.ptp(p['raw_keypoints'][:, 1]) for i in range(3)
                   for p in render_image(image_rng(spec, i), spec.img_size, n, n, 'grid')[1]]
        medians.append(float(np.median(heights)))
    assert medians == sorted(medians, reverse=True) and medians[-1] < medians[0] / 3, medians


def _digest(folder: str) -> str:
    h = hashlib.sha1()
    ann = json.load(open(osp.join(folder, 'annotations.json')))
    h.update(json.dumps(ann['annotations'], sort_keys=True).encode())
    for img in ann['images']:
        h.update(open(osp.join(folder, 'images', img['file_name']), 'rb').read())
    return h.hexdigest()


def test_written_split_counts_and_determinism(tmp_path):
    spec = crowd_split_spec(8, num_images=3, img_size=(320, 240))
    folder = ensure_split(spec, str(tmp_path / 'a'))
    ann = json.load(open(osp.join(folder, 'annotations.json')))
    assert [img['id'] for img in ann['images']] == [1, 2, 3]
    per_image = {i: 0 for i in (1, 2, 3)}
    for a in ann['annotations']:
        per_image[a['image_id']] += 1
        assert a['num_keypoints'] == sum(v > 0 for v in a['keypoints'][2::3]) > 0
    assert per_image == {1: 8, 2: 8, 3: 8}
    assert ann['info']['layout'] == 'grid' and ann['info']['split'] == 'crowd8'
    again = ensure_split(spec, str(tmp_path / 'b'))
    assert _digest(folder) == _digest(again)
    # another seed, or the training split's name: other scenes
    other = ensure_split(crowd_split_spec(8, num_images=3, img_size=(320, 240), seed=1),
                         str(tmp_path / 'a'))
    assert _digest(other) != _digest(folder)
    train_like = SyntheticSplitSpec(split='train', num_images=3, img_size=(320, 240),
                                    min_people=8, max_people=8, layout='grid')
    assert _digest(ensure_split(train_like, str(tmp_path / 'a'))) != _digest(folder)


def test_spec_checks_and_default_keys():
    with pytest.raises(ValueError, match=r'max_people <= 8 \(layout .random.\)'):
        SyntheticSplitSpec(min_people=16, max_people=16)
    with pytest.raises(ValueError, match=r'max_people <= 64'):
        SyntheticSplitSpec(min_people=65, max_people=65, layout='grid')
    with pytest.raises(ValueError, match='layout must be one of'):
        SyntheticSplitSpec(layout='ring')
    # keys of the default layout are those of kp_plugins before layouts
    # existed (worked out with that version), so caches stay valid
    assert SyntheticSplitSpec().key == DEFAULT_SPEC_KEY
    assert SyntheticSplitSpec(layout='grid').key != DEFAULT_SPEC_KEY


def test_random_layout_images_unchanged():
    """The default layout draws exactly what it drew before layouts
    existed (digest worked out with that version)."""
    image, people = render_image(np.random.default_rng(7), (128, 96), 1, 4)
    h = hashlib.sha1(image.tobytes())
    for p in people:
        h.update(np.round(p['keypoints'], 3).tobytes())
    assert h.hexdigest() == RANDOM_LAYOUT_DIGEST


DEFAULT_SPEC_KEY = '154d4b38df'
RANDOM_LAYOUT_DIGEST = 'fc636c2293edcf43d55c3a26c80a47fc774da4b5'
