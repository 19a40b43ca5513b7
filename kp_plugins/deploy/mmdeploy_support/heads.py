"""What mmdeploy must know about the kp heads: the raw outputs each head's
``forward`` returns (the ONNX graph's outputs, in order), whether it takes
the person box as a second graph input, and the decode its ``predict``
applies to those outputs (flip test off).

Symbols: ``B`` batch, ``K`` keypoints, grid ``Gh x Gw``.
"""
from typing import List, Optional, Sequence, Tuple

from mmengine.structures import InstanceData
from torch import Tensor, nn

from kp_plugins.models.heads import KPBBoxHead, KPGridHead, KPRegressionHead

#: Name of the second graph input of a ``KPBBoxHead`` model: (B, 4) xyxy
#: person boxes in model-input pixels (``KPBBoxHead.sample_input_bboxes``).
BBOX_INPUT = 'bbox'

#: Raw outputs of each kp head's ``forward``, in order:
#: ``KPRegressionHead``/``KPBBoxHead``: coords (B, K, 2) in the codec's frame
#: and visibility logits (B, K); ``KPGridHead``: presence logits
#: (B, K, Gh, Gw) and in-cell offsets (B, K, 2, Gh, Gw).
RAW_OUTPUTS = {
    KPRegressionHead: ('coords', 'visibility'),
    KPGridHead: ('presence', 'offsets'),
    KPBBoxHead: ('coords', 'visibility'),
}

#: The deploy config to use for each kp head (for error messages).
DEPLOY_CONFIGS = {
    KPRegressionHead: 'configs/deploy/pose-detection_kp-regression_'
                      'onnxruntime_{static,dynamic}.py',
    KPGridHead: 'configs/deploy/pose-detection_kp-grid_onnxruntime_'
                '{static,dynamic}.py',
    KPBBoxHead: 'configs/deploy/pose-detection_kp-bbox_onnxruntime_'
                '{static,dynamic}.py',
}


def kp_head_type(head: Optional[nn.Module]) -> Optional[type]:
    """The kp head class ``head`` is an instance of, or ``None`` (MMPose's
    own heads, no head)."""
    for head_type in RAW_OUTPUTS:
        if isinstance(head, head_type):
            return head_type
    return None


def takes_bboxes(head: Optional[nn.Module]) -> bool:
    """Whether the head's ``forward`` needs the person boxes."""
    return isinstance(head, KPBBoxHead)


def check_deploy_names(head: Optional[nn.Module],
                       input_names: Sequence[str],
                       output_names: Sequence[str],
                       deploy_cfg_name: str = 'the deploy config') -> None:
    """Raise a ``ValueError`` naming the right deploy config unless the
    graph's input and output names are those of the head (:data:`BBOX_INPUT`,
    :data:`RAW_OUTPUTS`): otherwise a kp head's outputs would be silently
    dropped, misnamed or misread."""
    head_type = kp_head_type(head)
    input_names, output_names = list(input_names), list(output_names)
    has_bbox = BBOX_INPUT in input_names
    if head_type is None:
        if has_bbox:
            raise ValueError(
                f'{deploy_cfg_name} declares a "{BBOX_INPUT}" input but the '
                f'model\'s head ({type(head).__name__}) takes no person box; '
                'use configs/deploy/pose-detection_onnxruntime_'
                '{static,dynamic}.py')
        return
    expected_inputs = ['input', BBOX_INPUT] if takes_bboxes(head) else ['input']
    expected_outputs = list(RAW_OUTPUTS[head_type])
    if input_names != expected_inputs or output_names != expected_outputs:
        raise ValueError(
            f'{head_type.__name__} exports inputs {expected_inputs} and '
            f'outputs {expected_outputs}, but {deploy_cfg_name} has '
            f'onnx_config.input_names={input_names} and output_names='
            f'{output_names}; use {DEPLOY_CONFIGS[head_type]}')


def decode_raw_outputs(head: nn.Module, outputs: Sequence[Tensor],
                       input_bboxes: Optional[Tensor] = None
                       ) -> List[InstanceData]:
    """The head's own decode applied to ALL its raw outputs, exactly as its
    ``predict`` does with flip test off.

    Args:
        head: a kp head (see :data:`RAW_OUTPUTS`).
        outputs: its raw outputs, in :data:`RAW_OUTPUTS` order.
        input_bboxes: (B, 4) xyxy boxes in model-input pixels, required by
            ``KPBBoxHead``.

    Returns:
        per-sample ``InstanceData`` with ``keypoints`` (1, K, 2) in
        model-input pixels and ``keypoint_scores`` (1, K).
    """
    head_type = kp_head_type(head)
    if head_type is None:
        raise TypeError(f'{type(head).__name__} is not a kp head')
    outputs: List[Tensor] = list(outputs)
    if len(outputs) != len(RAW_OUTPUTS[head_type]):
        raise ValueError(
            f'{head_type.__name__} gives {len(RAW_OUTPUTS[head_type])} '
            f'outputs {RAW_OUTPUTS[head_type]}, the backend returned '
            f'{len(outputs)}')
    if head_type is KPGridHead and head.presence_normalization == 'softmax':
        outputs[0] = head.softmax_as_logits(outputs[0])  # as KPGridHead.predict
    if head_type is KPBBoxHead:
        if input_bboxes is None:
            raise ValueError('KPBBoxHead decodes relative to the person '
                             'boxes: input_bboxes is required')
        outputs.append(input_bboxes.to(outputs[0].dtype))
    return head.decode(tuple(outputs))
