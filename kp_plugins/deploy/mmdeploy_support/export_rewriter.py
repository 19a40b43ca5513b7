"""mmdeploy's ONNX export on torch >= 2.5, and the person-box input of
``KPBBoxHead``: a rewriter of ``torch.onnx.export``, active only inside
mmdeploy's ``RewriterContext`` (``mmdeploy.apis.onnx.export``), so
``torch.onnx.export`` elsewhere keeps torch's defaults.

1. torch >= 2.9 exports with the dynamo exporter by default (it needs
   onnxscript, and mmdeploy's rewriters and symbolics target the
   TorchScript exporter): mmdeploy's call gets ``dynamo=False``.
2. mmdeploy traces ``model(input)`` only. When the deploy config names a
   second input ``bbox`` (``configs/deploy/pose-detection_kp-bbox_*.py``),
   the traced module becomes :class:`TopdownWithBBoxInput` and the graph
   takes the (B, 4) person boxes in model-input pixels as that input.
"""
import inspect
from typing import Any, Tuple

from torch import Tensor, nn

from mmdeploy.core import FUNCTION_REWRITER
from .heads import check_deploy_names, takes_bboxes


class TopdownWithBBoxInput(nn.Module):
    """``(input, bbox) -> head.forward(extract_feat(input), bbox)``: mmdeploy's
    traced forward (``BasePoseEstimator.forward`` rewritten to ``_forward``)
    with the person boxes passed on to a ``KPBBoxHead``.

    Args:
        estimator: a ``TopdownPoseEstimator`` whose head takes boxes.
    """

    def __init__(self, estimator: nn.Module) -> None:
        super().__init__()
        self.estimator = estimator

    def forward(self, inputs: Tensor, bbox: Tensor) -> Tuple[Tensor, ...]:
        """
        Args:
            inputs: (B, 3, H, W) normalized crops.
            bbox: (B, 4) xyxy person boxes in model-input pixels.

        Returns:
            the head's raw outputs.
        """
        feats = self.estimator.extract_feat(inputs)
        return self.estimator.head.forward(feats, bbox)


def dummy_bboxes(head: nn.Module, inputs: Tensor) -> Tensor:
    """(B, 4) boxes to trace with: the box ``GetBBoxCenterScale`` +
    ``TopdownAffine`` make for a box of the input's aspect ratio (the values
    do not shape the graph)."""
    return head.default_bboxes(inputs.shape[0], inputs).contiguous()


@FUNCTION_REWRITER.register_rewriter('torch.onnx.export')
def torch_onnx__export(model: nn.Module, args: Any, f: Any = None, *rest,
                       **kwargs) -> Any:
    """``torch.onnx.export`` as mmdeploy 1.3.1 expects it: the TorchScript
    exporter, and the ``bbox`` input for ``KPBBoxHead`` models."""
    ctx = FUNCTION_REWRITER.get_context()
    if 'dynamo' in inspect.signature(ctx.origin_func).parameters:
        kwargs['dynamo'] = False
    head = getattr(model, 'head', None)
    input_names = list(kwargs.get('input_names') or [])
    output_names = list(kwargs.get('output_names') or [])
    check_deploy_names(head, input_names, output_names)
    if takes_bboxes(head):  # and so input_names holds BBOX_INPUT
        if not isinstance(args, Tensor):
            raise TypeError('the bbox input expects mmdeploy to trace one '
                            f'image tensor, got {type(args).__name__}')
        args = (args, dummy_bboxes(head, args))
        model = TopdownWithBBoxInput(model).train(model.training)
    return ctx.origin_func(model, args, f, *rest, **kwargs)
