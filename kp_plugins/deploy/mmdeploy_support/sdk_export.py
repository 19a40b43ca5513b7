"""mmdeploy's ``tools/deploy.py --dump-info`` (``export2SDK``) for the kp deploy
configs: SDK model directories for our heads, without changing mmdeploy's
installed files.

mmdeploy 1.3.1 builds ``pipeline.json`` from its ``PoseDetection`` task
processor, whose ``get_postprocess`` knows only MMPose's heatmap, SimCC and
regression codecs (``RuntimeError: Unsupported codecs type: KPGridLabel``).
A kp deploy config puts the decode in the graph, so the SDK needs only to map
the keypoints from the crop back to the image, as for kp_plugins' own
``tools/export_onnx.py --sdk`` (:mod:`kp_plugins.deploy.sdk`, which says
how). Two things are registered here, for kp deploy configs only (every other
deploy config keeps mmdeploy's behaviour):

- :class:`KPPoseDetection` replaces ``PoseDetection`` in mmdeploy's
  ``mmpose_tasks`` registry: its post-process is
  :func:`kp_plugins.deploy.sdk.sdk_postprocess`, and its crop uses the model
  config's ``GetBBoxCenterScale`` padding (mmdeploy writes 1.25 whatever the
  config says);
- ``export_info.get_inference_info`` gains the Net's ``output_map`` (our
  ``keypoints``/``scores`` under the names the SDK's post-processor reads).
"""
import functools
from typing import Dict, List

from mmdeploy.backend.sdk import export_info
from mmdeploy.codebase.mmpose.deploy.pose_detection import MMPOSE_TASK, PoseDetection
from mmdeploy.utils import Task, get_input_shape
from mmengine import Config

from kp_plugins.deploy.decode import UnsupportedHeadError, head_class_spec
from kp_plugins.deploy.sdk import SDK_OUTPUT_MAP, SDKExportError, check_sdk_export, sdk_postprocess

from .deploy_config import decodes_in_graph, is_kp_deploy


def _needs_bbox(head_type: str) -> bool:
    """Whether the registered head ``head_type`` takes the person boxes."""
    from mmpose.registry import MODELS
    try:
        return head_class_spec(MODELS.get(head_type)).needs_bbox
    except (UnsupportedHeadError, TypeError, AttributeError):
        return False  # mmdeploy's own checks report heads it cannot export


def _input_size(deploy_cfg: Config, model_cfg: Config) -> List[int]:
    codec = model_cfg.codec[-1] if isinstance(model_cfg.codec, (list, tuple)) \
        else model_cfg.codec
    return list(get_input_shape(deploy_cfg) or codec['input_size'])


@MMPOSE_TASK.register_module(Task.POSE_DETECTION.value, force=True)
class KPPoseDetection(PoseDetection):
    """mmdeploy's ``PoseDetection`` task processor; with a kp deploy config,
    the SDK files of an in-graph decode."""

    def get_preprocess(self, *args, **kwargs) -> List[Dict]:
        """mmdeploy's SDK transforms, with the config's own box padding."""
        pipeline = super().get_preprocess(*args, **kwargs)
        if is_kp_deploy(self.deploy_cfg):
            source = self.model_cfg.test_dataloader.dataset.pipeline
            padding = [t.get('padding', 1.25) for t in source
                       if t['type'] == 'GetBBoxCenterScale']
            for transform in pipeline:
                if transform['type'] == 'TopDownGetBboxCenterScale' and padding:
                    transform['padding'] = float(padding[0])
        return pipeline

    def get_postprocess(self, *args, **kwargs) -> Dict:
        """The SDK post-process: mmdeploy's for other deploy configs; for a
        kp deploy config, crop pixels -> image pixels of the graph's decoded
        keypoints.

        Raises:
            SDKExportError: the SDK cannot run this graph (raw outputs, or a
                head that takes the person box).
        """
        if not is_kp_deploy(self.deploy_cfg):
            return super().get_postprocess(*args, **kwargs)
        head = self.model_cfg.model.head.type
        try:
            check_sdk_export(head, _needs_bbox(head), raw=not decodes_in_graph(self.deploy_cfg))
        except SDKExportError as error:
            raise SDKExportError(f'--dump-info: {error}') from None
        return sdk_postprocess(_input_size(self.deploy_cfg, self.model_cfg), dict(head=head))


def _with_output_map(get_inference_info):
    """``get_inference_info`` plus, for a kp deploy config, the Net's
    ``output_map`` onto our ``keypoints`` and ``scores``."""

    @functools.wraps(get_inference_info)
    def wrapped(deploy_cfg: Config, model_cfg: Config, *args, **kwargs) -> Dict:
        info = get_inference_info(deploy_cfg, model_cfg, *args, **kwargs)
        if is_kp_deploy(deploy_cfg) and decodes_in_graph(deploy_cfg):
            info['output_map'] = dict(SDK_OUTPUT_MAP)
        return info

    wrapped.kp_plugins_output_map = True
    return wrapped


if not getattr(export_info.get_inference_info, 'kp_plugins_output_map', False):
    export_info.get_inference_info = _with_output_map(export_info.get_inference_info)
