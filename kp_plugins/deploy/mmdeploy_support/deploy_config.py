"""What a kp deploy config (``codebase_config.model_type='kp_end2end'``)
declares, checked against the model's head, so that a mismatch stops with the
config to use instead of a graph that drops or misnames an output.

A kp deploy config exports, for every head :mod:`kp_plugins.deploy.decode`
knows (the kp heads and MMPose's HeatmapHead, SimCCHead, RegressionHead,
RLEHead):

- input ``input``: (N, 3, H, W) crops after the config's data preprocessor
  (mmdeploy normalizes outside the graph), and for ``KPBBoxHead`` a second
  input ``bbox``: (N, 4) xyxy person boxes in model-input pixels;
- outputs ``keypoints`` (N, K, 2) in model-input pixels and ``scores``
  (N, K), the head's decode in the graph (``decode_in_graph=True``, the
  default), or the head's raw outputs (``head_spec(head).raw_names``),
  decoded by the backend model with the same decode
  (``codebase_config.decode_in_graph=False``).
"""
from typing import List, Sequence, Tuple

from mmdeploy.utils import get_codebase_config
from mmengine import Config
from torch import nn

from kp_plugins.deploy.decode import UnsupportedHeadError, head_spec, output_names
from kp_plugins.deploy.export import BBOX_INPUT_NAME, INPUT_NAME

#: ``codebase_config.model_type`` of the kp deploy configs.
KP_MODEL_TYPE = 'kp_end2end'

#: The deploy configs to use, for error messages.
KP_DEPLOY_CONFIG = 'configs/deploy/pose-detection_kp_onnxruntime_' \
                   '{static,dynamic}.py'
KP_BBOX_DEPLOY_CONFIG = 'configs/deploy/pose-detection_kp-bbox_' \
                        'onnxruntime_{static,dynamic}.py'


def is_kp_deploy(deploy_cfg: Config) -> bool:
    """Whether the deploy config selects the kp backend model."""
    return get_codebase_config(deploy_cfg).get('model_type') == KP_MODEL_TYPE


def decodes_in_graph(deploy_cfg: Config) -> bool:
    """``codebase_config.decode_in_graph`` (default ``True``)."""
    return bool(get_codebase_config(deploy_cfg).get('decode_in_graph', True))


def is_kp_plugins_head(head: nn.Module) -> bool:
    """A head of kp_plugins (mmdeploy's own ``End2EndModel`` cannot decode
    them: it hands ``head.decode`` the first output only)."""
    return type(head).__module__.startswith('kp_plugins.')


def expected_names(head: nn.Module, decode: bool
                   ) -> Tuple[List[str], List[str]]:
    """The graph's input and output names for ``head``.

    Raises:
        UnsupportedHeadError: a head type without a decode here.
    """
    try:
        spec = head_spec(head)
    except UnsupportedHeadError as error:
        raise UnsupportedHeadError(
            f'{error} -- with mmdeploy, a kp deploy config cannot export it; '
            'MMPose\'s one-output heads convert with mmdeploy\'s own '
            'End2EndModel: configs/deploy/pose-detection_onnxruntime_'
            '{static,dynamic}.py') from None
    inputs = [INPUT_NAME, BBOX_INPUT_NAME] if spec.needs_bbox else [INPUT_NAME]
    return inputs, list(output_names(head, raw=not decode))


def check_deploy_names(head: nn.Module, deploy_cfg: Config,
                       input_names: Sequence[str],
                       output_names: Sequence[str]) -> None:
    """Raise a ``ValueError`` naming the deploy config to use unless
    ``input_names``/``output_names`` (the deploy config's
    ``onnx_config``) are those ``head`` exports under ``deploy_cfg``."""
    name = getattr(deploy_cfg, 'filename', None) or 'the deploy config'
    if not is_kp_deploy(deploy_cfg):
        if is_kp_plugins_head(head):
            use = KP_BBOX_DEPLOY_CONFIG if head_spec(head).needs_bbox \
                else KP_DEPLOY_CONFIG
            raise ValueError(
                f'{name} uses mmdeploy\'s End2EndModel, which decodes only '
                f'the first output of {type(head).__name__}; use {use}')
        return
    decode = decodes_in_graph(deploy_cfg)
    inputs, outputs = expected_names(head, decode)
    if list(input_names) != inputs or list(output_names) != outputs:
        use = KP_BBOX_DEPLOY_CONFIG if BBOX_INPUT_NAME in inputs \
            else KP_DEPLOY_CONFIG
        if not decode:
            use += f' with codebase_config.decode_in_graph=False and ' \
                   f'onnx_config.output_names={outputs}'
        raise ValueError(
            f'{type(head).__name__} exports inputs {inputs} and outputs '
            f'{outputs} ({"decoded in the graph" if decode else "raw"}), but '
            f'{name} has onnx_config.input_names={list(input_names)} and '
            f'output_names={list(output_names)}; use {use}')
