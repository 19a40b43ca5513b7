"""mmdeploy's ONNX export on torch >= 2.9 and for every kp deploy config: a
rewriter of ``torch.onnx.export``, active only inside mmdeploy's
``RewriterContext`` (``mmdeploy.apis.onnx.export``), so ``torch.onnx.export``
elsewhere keeps torch's defaults.

1. torch >= 2.9 exports with the dynamo exporter by default (it needs
   onnxscript, and mmdeploy's rewriters and symbolics target the TorchScript
   exporter): mmdeploy's call gets ``dynamo=False``, for every deploy config
   that loads this package.
2. With a kp deploy config (:mod:`.deploy_config`) mmdeploy traces
   :class:`MMDeployPoseModel` instead of ``model(input)``: the head's decode
   in the graph and, for ``KPBBoxHead``, the person boxes as a second input.
3. A kp_plugins head under mmdeploy's own ``End2EndModel`` (which would
   decode its first output only) stops with the deploy config to use.
"""
import inspect
from typing import Any, Optional, Tuple

from mmdeploy.core import FUNCTION_REWRITER
from torch import Tensor, nn

from kp_plugins.deploy.decode import estimator_outputs, head_spec

from .deploy_config import check_deploy_names, decodes_in_graph, is_kp_deploy


class MMDeployPoseModel(nn.Module):
    """What mmdeploy traces for a kp deploy config: normalized crops (and
    person boxes) -> keypoints and scores, or the head's raw outputs.

    Args:
        estimator: a ``TopdownPoseEstimator``.
        decode: decode in the graph (:func:`kp_plugins.deploy.decode.
            decode_outputs`) or return the raw outputs.
    """

    def __init__(self, estimator: nn.Module, decode: bool) -> None:
        super().__init__()
        self.estimator = estimator
        self.decode = decode
        self.needs_bbox = head_spec(estimator.head).needs_bbox

    def forward(self, inputs: Tensor,
                bbox: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        """
        Args:
            inputs: (N, 3, H, W) crops after the data preprocessor.
            bbox: (N, 4) xyxy person boxes in model-input pixels (heads that
                need them).

        Returns:
            keypoints (N, K, 2) in model-input pixels and scores (N, K), or
            the head's raw outputs.
        """
        return estimator_outputs(self.estimator, inputs, bbox,
                                 raw=not self.decode)


@FUNCTION_REWRITER.register_rewriter('torch.onnx.export')
def torch_onnx__export(model: nn.Module, args: Any, f: Any = None, *rest,
                       **kwargs) -> Any:
    """``torch.onnx.export`` as mmdeploy 1.3.1 expects it (TorchScript
    exporter), tracing :class:`MMDeployPoseModel` for kp deploy configs."""
    ctx = FUNCTION_REWRITER.get_context()
    if 'dynamo' in inspect.signature(ctx.origin_func).parameters:
        kwargs['dynamo'] = False
    head = getattr(model, 'head', None)
    if head is None:  # not a pose estimator: nothing more to do
        return ctx.origin_func(model, args, f, *rest, **kwargs)
    check_deploy_names(head, ctx.cfg, kwargs.get('input_names') or [],
                       kwargs.get('output_names') or [])
    if is_kp_deploy(ctx.cfg):
        if not isinstance(args, Tensor):
            raise TypeError('a kp deploy config expects mmdeploy to trace '
                            f'one image tensor, got {type(args).__name__}')
        traced = MMDeployPoseModel(model, decodes_in_graph(ctx.cfg))
        model = traced.train(model.training)
        if traced.needs_bbox:
            # Boxes to trace with (their values do not shape the graph).
            args = (args, head.default_bboxes(args.shape[0], args).clone())
    return ctx.origin_func(model, args, f, *rest, **kwargs)
