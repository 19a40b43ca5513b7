"""mmdeploy backend model for kp heads: mmdeploy's ``End2EndModel`` with the
person boxes as a second backend input and the head's own decode applied to
all its outputs."""
from typing import List, Optional, Sequence

import torch
from mmengine.structures import BaseDataElement

from mmdeploy.codebase.base import BaseBackendModel
from mmdeploy.codebase.mmpose.deploy import pose_detection_model
from mmdeploy.codebase.mmpose.deploy.pose_detection_model import End2EndModel
from mmdeploy.utils import Backend, get_ir_config
from .heads import (BBOX_INPUT, check_deploy_names, decode_raw_outputs,
                    kp_head_type, takes_bboxes)

#: mmdeploy's registry of pose backend models (module-private there); a
#: deploy config selects ours with ``codebase_config.model_type``.
BACKEND_MODELS = getattr(pose_detection_model, '__BACKEND_MODEL')


@BACKEND_MODELS.register_module('kp_end2end')
class KPEnd2EndModel(End2EndModel):
    """mmdeploy's pose backend model for every kp head, and for MMPose's own
    heads (which it leaves to ``End2EndModel``).

    For a kp head it feeds the backend the crops and, for ``KPBBoxHead``,
    the (B, 4) person boxes in model-input pixels computed from each data
    sample's box as ``KPBBoxHead.predict`` does; it decodes all the backend
    outputs with the head's own decode (``decode_raw_outputs``), so the
    results are those of the torch model's ``predict`` with flip test off.

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
        check_deploy_names(self.head, self.input_names, self.output_names,
                           deploy_cfg_name=deploy_cfg.filename or
                           'the deploy config')

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
                ``input_scale``, ``gt_instances.bboxes``).

        Returns:
            the data samples with ``pred_instances`` in image pixels.
        """
        if kp_head_type(self.head) is None:
            return super().forward(inputs, data_samples, mode, **kwargs)
        if mode != 'predict':
            raise ValueError('a backend model only predicts, got mode='
                             f'{mode!r}')
        feeds = {self.input_name: inputs.contiguous().to(self.device)}
        input_bboxes: Optional[torch.Tensor] = None
        if takes_bboxes(self.head):
            input_bboxes = torch.from_numpy(
                self.head.sample_input_bboxes(data_samples)).to(self.device)
            feeds[BBOX_INPUT] = input_bboxes
        outputs = self.wrapper.output_to_list(self.wrapper(feeds))
        preds = decode_raw_outputs(self.head, outputs, input_bboxes)
        return self.pack_result(preds, data_samples)
