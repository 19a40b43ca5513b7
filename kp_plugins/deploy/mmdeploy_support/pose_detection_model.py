"""mmdeploy backend model of the kp deploy configs: mmdeploy's
``End2EndModel`` with the person boxes as a second backend input and the
head's whole decode (in the graph, or here on all raw outputs)."""
from typing import List, Optional, Sequence

import torch
from mmdeploy.codebase.base import BaseBackendModel
from mmdeploy.codebase.mmpose.deploy import pose_detection_model
from mmdeploy.codebase.mmpose.deploy.pose_detection_model import End2EndModel
from mmdeploy.utils import Backend, get_ir_config
from mmengine.structures import BaseDataElement, InstanceData

from kp_plugins.deploy.decode import decode_outputs, head_spec
from kp_plugins.deploy.export import BBOX_INPUT_NAME

from .deploy_config import KP_MODEL_TYPE, check_deploy_names, decodes_in_graph

#: mmdeploy's registry of pose backend models (module-private there); a
#: deploy config selects ours with ``codebase_config.model_type``.
BACKEND_MODELS = getattr(pose_detection_model, '__BACKEND_MODEL')


@BACKEND_MODELS.register_module(KP_MODEL_TYPE)
class KPEnd2EndModel(End2EndModel):
    """mmdeploy's pose backend model for every head
    :mod:`kp_plugins.deploy.decode` knows (the kp heads, MMPose's
    HeatmapHead, SimCCHead, RegressionHead, RLEHead).

    It feeds the backend the crops and, for ``KPBBoxHead``, the (B, 4)
    person boxes in model-input pixels computed from each data sample's box
    as ``KPBBoxHead.predict`` does; the backend returns keypoints and scores
    (decode in the graph) or the head's raw outputs, which it decodes with
    the same ``decode_outputs``. Results equal the torch model's ``predict``
    with flip test off.

    Args: those of mmdeploy's ``End2EndModel``.
    """

    def __init__(self,
                 backend: Backend,
                 backend_files: Sequence[str],
                 device: str,
                 deploy_cfg=None,
                 model_cfg=None,
                 **kwargs) -> None:
        super().__init__(backend, backend_files, device, deploy_cfg,
                         model_cfg, **kwargs)
        self.decode_in_graph = decodes_in_graph(deploy_cfg)
        self.needs_bbox = head_spec(self.head).needs_bbox
        check_deploy_names(self.head, deploy_cfg, self.input_names,
                           self.output_names)

    def _init_wrapper(self, backend: Backend, backend_files: Sequence[str],
                      device: str, **kwargs) -> None:
        """The backend wrapper, told about every graph input."""
        self.input_names: List[str] = list(
            get_ir_config(self.deploy_cfg).get('input_names') or ['input'])
        self.wrapper = BaseBackendModel._build_wrapper(
            backend=backend,
            backend_files=backend_files,
            device=device,
            input_names=self.input_names,
            output_names=self.output_names,
            deploy_cfg=self.deploy_cfg,
            **kwargs)

    def forward(self,
                inputs: torch.Tensor,
                data_samples: List[BaseDataElement],
                mode: str = 'predict',
                **kwargs) -> List[BaseDataElement]:
        """
        Args:
            inputs: (B, 3, H, W) crops after the data preprocessor.
            data_samples: the B data samples (``input_center``,
                ``input_scale``, ``input_size``, ``gt_instances.bboxes``).

        Returns:
            the data samples with ``pred_instances`` (``keypoints`` (1, K, 2)
            in image pixels, ``keypoint_scores`` (1, K)).
        """
        if mode != 'predict':
            raise ValueError('a backend model only predicts, got mode='
                             f'{mode!r}')
        feeds = {self.input_name: inputs.contiguous().to(self.device)}
        input_bboxes: Optional[torch.Tensor] = None
        if self.needs_bbox:
            input_bboxes = torch.from_numpy(
                self.head.sample_input_bboxes(data_samples)).to(self.device)
            feeds[BBOX_INPUT_NAME] = input_bboxes
        outputs = self.wrapper.output_to_list(self.wrapper(feeds))
        if self.decode_in_graph:
            keypoints, scores = outputs
        else:
            keypoints, scores = decode_outputs(self.head, tuple(outputs),
                                               input_bboxes)
        preds = [
            InstanceData(keypoints=k[None].cpu().numpy(),
                         keypoint_scores=s[None].cpu().numpy())
            for k, s in zip(keypoints, scores)
        ]
        return self.pack_result(preds, data_samples)
