"""kp_plugins.deploy.decode: every top-down approach of the one list
(kp_plugins.approaches.APPROACHES) has an export spec, and heads or codecs
without an in-graph decode are refused by name."""
import pytest
import torch
from mmpose.registry import MODELS

from kp_plugins.approaches import APPROACHES, Approach
from kp_plugins.deploy.decode import (
    UnsupportedHeadError,
    approach_spec,
    decode_outputs,
    decode_with_codec,
    head_spec,
    head_specs,
)

TOPDOWN = [a for a in APPROACHES if a.kind == 'topdown']


def test_there_are_topdown_approaches():
    assert {'KPRegressionHead', 'KPGridHead', 'KPBBoxHead',
            'HeatmapHead'} <= {a.head for a in TOPDOWN}


@pytest.mark.parametrize('approach', TOPDOWN, ids=[a.name for a in TOPDOWN])
def test_every_topdown_approach_exports(approach):
    """Fails (never skips) for a top-down approach whose head has no export
    spec or whose codec has no in-graph decode."""
    spec = approach_spec(approach)
    assert spec.raw_names and all(spec.raw_names)
    if approach.source == 'kp_plugins':
        # a kp_plugins head states its own facts and decodes with its codec
        head_type = MODELS.get(approach.head)
        assert spec.decode is decode_with_codec
        assert spec.raw_names == head_type.raw_output_names
        assert spec.needs_bbox == head_type.needs_bbox
    assert spec.needs_bbox == (approach.head == 'KPBBoxHead')
    assert head_specs()[approach.head] == spec


def test_raw_output_names():
    specs = head_specs()
    assert specs['KPGridHead'].raw_names == ('presence', 'offsets')
    assert specs['KPBBoxHead'].raw_names == ('coords', 'visibility_logits')
    assert specs['RLEHead'].raw_names == ('coords_sigma', )


def test_an_approach_without_an_export_is_named():
    cpm = Approach('CPMHead', 'mmpose', 'CPM', {}, None, head='CPMHead',
                   codec='MSRAHeatmap', source='mmpose')
    with pytest.raises(UnsupportedHeadError, match='CPMHead cannot be exported'):
        approach_spec(cpm)
    unknown_codec = Approach('KPRegressionHead', 'regression', 'x', {}, None,
                             head='KPRegressionHead', codec='RegressionLabel')
    with pytest.raises(UnsupportedHeadError,
                       match='KPRegressionHead with codec RegressionLabel'):
        approach_spec(unknown_codec)
    unregistered = Approach('Nope', 'mmpose', 'x', {}, None, head='NopeHead',
                            codec='MSRAHeatmap')
    with pytest.raises(UnsupportedHeadError, match='not registered'):
        approach_spec(unregistered)


def test_a_kp_head_whose_codec_has_no_torch_decode_is_refused():
    head = MODELS.build(dict(
        type='KPRegressionHead', in_channels=8, num_keypoints=17,
        decoder=dict(type='RegressionLabel', input_size=(96, 128))))
    assert head_spec(head).decode is decode_with_codec
    with pytest.raises(UnsupportedHeadError, match='no decode_tensors'):
        decode_outputs(head, (torch.zeros(1, 17, 2), torch.zeros(1, 17)))


def test_an_mmpose_head_decodes_by_its_codec():
    head = MODELS.build(dict(
        type='HeatmapHead', in_channels=8, out_channels=17,
        deconv_out_channels=None,
        decoder=dict(type='SimCCLabel', input_size=(96, 128))))
    with pytest.raises(UnsupportedHeadError,
                       match='SimCCLabel decode takes 2 head output'):
        decode_outputs(head, torch.zeros(1, 17, 32, 24))
    head.decoder = None
    with pytest.raises(UnsupportedHeadError, match='supported codecs'):
        decode_outputs(head, torch.zeros(1, 17, 32, 24))


def test_the_bbox_head_needs_the_boxes():
    head = MODELS.build(dict(
        type='KPBBoxHead', in_channels=8, num_keypoints=17,
        decoder=dict(type='KPBBoxLabel', input_size=(96, 128))))
    with pytest.raises(UnsupportedHeadError, match='give input_bboxes'):
        decode_outputs(head, (torch.zeros(1, 17, 2), torch.zeros(1, 17)))
    boxes = torch.tensor([[10.0, 20.0, 40.0, 100.0]])
    keypoints, scores = decode_outputs(
        head, (torch.zeros(1, 17, 2), torch.zeros(1, 17)), boxes)
    assert torch.equal(keypoints, torch.tensor([25.0, 60.0]).expand(1, 17, 2))
    assert torch.equal(scores, torch.full((1, 17), 0.5))
