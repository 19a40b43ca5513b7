"""mmdeploy SDK model directories (``mmdeploy_runtime.PoseDetector``) for
top-down files with the decode in the graph.

An SDK model directory is what mmdeploy-based deployments load, from Python
(``mmdeploy_runtime.PoseDetector(DIR, 'cpu', 0)``), C++, C# or Java:
``deploy.json`` (the model files), ``pipeline.json`` (pre-processing, net,
post-processing) and the ONNX file; ``detail.json`` records where it came
from. mmdeploy 1.3.1's SDK has no post-processor for our codecs, and needs
none: the decode already runs in the graph, whose ``keypoints`` (N, K, 2) are
in model-input pixels and ``scores`` (N, K) final. The SDK's
``SimCCLabelDecode`` with ``export_postprocess: true`` reads exactly that
(its ``simcc_x`` as keypoints in crop pixels, ``simcc_y`` as scores) and only
maps the keypoints from the crop back to the image; the Net module's
``output_map`` points those names at our outputs. ``pipeline.json`` says so
in the post-process's ``params`` (``decode: graph``).

What the SDK does differently from MMPose (and from
:mod:`kp_plugins.deploy.runtime`): its ``TopDownAffine`` is an
integer-rounded ROI crop + resize, and ``PoseDetector`` widens each
``xyxy`` box by one pixel (``w = x2 - x1 + 1``), so its crop of the same box
differs by up to about a pixel; keypoints then differ by about that much.

What the SDK cannot run:

- ``KPBBoxHead``: its graph takes a second input, the person box in
  model-input pixels; the SDK's Net feeds only tensors made by the
  pre-processing, and no SDK transform turns the box into a tensor.
- bottom-up models (``YOLOXPoseHead``): ``PoseDetector`` crops every box
  (the whole image when given none) and mmdeploy 1.3.1's SDK registers no
  bottom-up pose post-processor (its mmpose components are the heatmap,
  DeepPose-regression and SimCC decoders).
- opset >= 19: the SDK bundles onnxruntime 1.15.1, which cannot load it
  (the process crashes instead of raising), and ONNX IR versions > 9.

Symbols: ``K`` keypoints, model input ``[W, H]``.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

#: The mmdeploy SDK release the files are written for (PyPI
#: ``mmdeploy-runtime``; its onnxruntime is 1.15.1).
SDK_VERSION = '1.3.1'
#: The newest ONNX opset and IR version onnxruntime 1.15.1 loads.
SDK_MAX_OPSET = 18
SDK_MAX_IR_VERSION = 9
#: File names in an SDK model directory.
SDK_ONNX_NAME = 'end2end.onnx'
SDK_FILES = ('deploy.json', 'pipeline.json', 'detail.json')
#: The SDK post-processor that maps in-graph decoded keypoints back to the
#: image (``export_postprocess: true``) and the names it reads them under.
SDK_POSTPROCESS = 'SimCCLabelDecode'
SDK_OUTPUT_MAP = {'simcc_x': 'keypoints', 'simcc_y': 'scores'}
#: The Net task's name (``deploy.json`` ``models[0].name``).
SDK_NET_NAME = 'topdownposeestimator'
#: Largest batch the SDK's Net runs in one call (dynamic-batch files).
SDK_DEFAULT_BATCH = 16
#: What ``Collect`` keeps for the post-processor (mmdeploy's own list).
SDK_META_KEYS = ['img_shape', 'pad_shape', 'ori_shape', 'img_norm_cfg',
                 'scale_factor', 'bbox_score', 'center', 'scale']


class SDKExportError(ValueError):
    """A model or export setting the mmdeploy SDK cannot run."""


def check_sdk_export(head_name: str, needs_bbox: bool, opset: Optional[int] = None,
                     raw: bool = False, batch: Union[str, int] = 'dynamic',
                     mode: str = 'topdown') -> None:
    """Raise :class:`SDKExportError` naming the problem unless the SDK can
    run this export. Call before anything is written.

    Args:
        head_name: the head's class name, for messages.
        needs_bbox: the graph takes the person boxes as a second input.
        opset: the ONNX opset asked for (``None``: not checked here; see
            :func:`check_sdk_onnx` for a written file).
        raw: the head's raw outputs instead of the in-graph decode.
        batch: ``'dynamic'`` or the graph's fixed batch size.
        mode: ``'topdown'`` or ``'bottomup'``.
    """
    if mode != 'topdown':
        raise SDKExportError(
            f'{head_name} is a bottom-up model: the mmdeploy SDK '
            f'{SDK_VERSION} cannot run it (PoseDetector crops every person box, '
            'and the SDK has no bottom-up pose post-processor); run the '
            'exported file with kp_plugins.deploy.bottomup_runtime instead')
    if needs_bbox:
        raise SDKExportError(
            f'{head_name} takes the person box as a second graph input; the '
            f'mmdeploy SDK {SDK_VERSION} feeds a net only the tensors its '
            'pre-processing makes (the cropped image), so it cannot give the box: '
            'run this model with kp_plugins.deploy.runtime instead')
    if raw:
        raise SDKExportError(
            'an SDK model directory needs the decode in the graph (the SDK has no '
            f'post-processor for {head_name}\'s raw outputs): export without --raw')
    if opset is not None and opset > SDK_MAX_OPSET:
        raise SDKExportError(
            f'opset {opset}: the mmdeploy SDK {SDK_VERSION} runs onnxruntime 1.15.1, '
            f'which loads opsets up to {SDK_MAX_OPSET} (a newer one crashes the '
            f'process); export with --opset {SDK_MAX_OPSET} or lower (default 17)')
    if batch != 'dynamic' and batch != 1:
        raise SDKExportError(
            f'a fixed batch of {batch}: the SDK runs any number of persons per call, '
            'so its net must take batch 1 or a dynamic batch: export with '
            '--batch dynamic (default) or --batch 1')


def sdk_postprocess(input_size: Sequence[int],
                    extra: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """The post-process entry (``component`` and ``params``) for a graph that
    decodes: crop pixels -> image pixels, nothing else.

    Args:
        input_size: model input ``[W, H]``.
        extra: more ``params`` to record (ignored by the SDK).
    """
    params: Dict[str, object] = dict(
        export_postprocess=True, flip_test=False,
        input_size=[int(v) for v in input_size],
        decode='graph: keypoints (model-input pixels) and scores are the '
        'outputs of the ONNX graph; SimCCLabelDecode with export_postprocess '
        'only maps the keypoints from the crop back to the image')
    params.update(extra or {})
    return dict(type=SDK_POSTPROCESS, params=params)


def sdk_preprocess(input_size: Sequence[int], padding: float,
                   normalize: Dict[str, object]) -> List[Dict[str, object]]:
    """The SDK transforms that crop a person as MMPose's test pipeline does
    (up to the SDK's integer crop), then make the net's input tensor.

    Args:
        input_size: model input ``[W, H]``.
        padding: ``GetBBoxCenterScale``'s padding.
        normalize: ``Normalize`` arguments (``mean``, ``std``, ``to_rgb``).
    """
    size = [int(v) for v in input_size]
    return [
        dict(type='LoadImageFromFile'),
        dict(type='TopDownGetBboxCenterScale', padding=float(padding), image_size=size),
        dict(type='TopDownAffine', image_size=size),
        dict(type='Normalize', **normalize),
        dict(type='ImageToTensor', keys=['img']),
        dict(type='Collect', keys=['img'], meta_keys=list(SDK_META_KEYS)),
    ]


def sdk_net_task(input_name: str = 'input', is_batched: bool = True) -> Dict[str, object]:
    """The Net task of ``pipeline.json``: the graph's input fed from the
    pre-processed image, its ``keypoints``/``scores`` handed to the
    post-processor under the names it reads."""
    return dict(name=SDK_NET_NAME, type='Task', module='Net', is_batched=is_batched,
                input=['prep_output'], output=['infer_output'],
                input_map=dict(img=input_name), output_map=dict(SDK_OUTPUT_MAP))


def sdk_pipeline(preprocess: List[Dict[str, object]],
                 postprocess: Dict[str, object],
                 net_task: Optional[Dict[str, object]] = None) -> Dict[str, object]:
    """``pipeline.json``: pre-processing, net, post-processing."""
    return dict(pipeline=dict(input=['img'], output=['post_output'], tasks=[
        dict(type='Task', module='Transform', name='Preprocess', input=['img'],
             output=['prep_output'], transforms=preprocess),
        net_task or sdk_net_task(),
        dict(type='Task', module='mmpose', name='postprocess',
             component=postprocess['type'], params=postprocess['params'],
             output=['post_output'], input=['prep_output', 'infer_output']),
    ]))


def sdk_deploy(onnx_name: str = SDK_ONNX_NAME,
               batch: Union[str, int] = 'dynamic') -> Dict[str, object]:
    """``deploy.json``: one onnxruntime model."""
    return dict(version=SDK_VERSION, task='PoseDetector', models=[dict(
        name=SDK_NET_NAME, net=onnx_name, weights='', backend='onnxruntime',
        precision='FP32', batch_size=SDK_DEFAULT_BATCH if batch == 'dynamic' else int(batch),
        dynamic_shape=batch == 'dynamic')], customs=[])


def check_sdk_onnx(onnx_file: str) -> None:
    """Raise :class:`SDKExportError` when the file's opset or IR version is
    newer than the SDK's onnxruntime loads."""
    import onnx
    proto = onnx.load(onnx_file, load_external_data=False)
    opset = max((o.version for o in proto.opset_import if o.domain in ('', 'ai.onnx')),
                default=0)
    if opset > SDK_MAX_OPSET or proto.ir_version > SDK_MAX_IR_VERSION:
        raise SDKExportError(
            f'{onnx_file}: opset {opset}, IR version {proto.ir_version}; the mmdeploy SDK '
            f'{SDK_VERSION} (onnxruntime 1.15.1) loads opset <= {SDK_MAX_OPSET} and IR '
            f'version <= {SDK_MAX_IR_VERSION}')


def write_sdk_files(out_dir: str, metadata: Dict[str, str],
                    onnx_name: str = SDK_ONNX_NAME,
                    detail: Optional[Dict[str, object]] = None) -> List[str]:
    """Write ``deploy.json``, ``pipeline.json`` and ``detail.json`` for the
    kp_plugins ONNX file ``out_dir/onnx_name`` (written by
    :func:`kp_plugins.deploy.export.export_onnx`: 0-255 crops in, the graph
    normalizes, decode in the graph).

    Args:
        out_dir: the SDK model directory (holds the ONNX file).
        metadata: the file's ``metadata_props`` (JSON strings).
        onnx_name: the ONNX file's name inside ``out_dir``.
        detail: more to record in ``detail.json``.

    Returns:
        the paths written.
    """
    from .runtime import decode_metadata
    meta = decode_metadata(metadata)
    check_sdk_export(meta['head'], 'bbox' in meta.get('inputs', []),
                     raw=meta['decode'] != 'graph', batch=meta['batch'])
    check_sdk_onnx(osp.join(out_dir, onnx_name))
    size = meta['input_size']
    # The graph takes 0-255 crops in the order LoadImage gives (BGR, as the
    # SDK's images are) and normalizes itself: Normalize only casts to float.
    preprocess = sdk_preprocess(size, meta['bbox_padding'],
                                dict(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], to_rgb=False))
    postprocess = sdk_postprocess(size, dict(head=meta['head']))
    files = {
        'deploy.json': sdk_deploy(onnx_name, meta['batch']),
        'pipeline.json': sdk_pipeline(preprocess, postprocess),
        'detail.json': dict(
            version=SDK_VERSION, written_by=f'kp_plugins {meta["kp_plugins_version"]} '
            '(tools/export_onnx.py --sdk)', config=meta['config'], head=meta['head'],
            codec=meta['codec'], onnx=onnx_name, input_size=size,
            bbox_padding=meta['bbox_padding'], keypoint_names=meta['keypoint_names'],
            flip_test=meta['flip_test'], **(detail or {})),
    }
    written = []
    for name, content in files.items():
        path = osp.join(out_dir, name)
        with open(path, 'w') as f:
            json.dump(content, f, indent=4)
        written.append(path)
    return written


def sdk_onnx_path(sdk_dir: str) -> str:
    """Where the ONNX file of an SDK model directory goes."""
    os.makedirs(sdk_dir, exist_ok=True)
    return osp.join(sdk_dir, SDK_ONNX_NAME)


def is_sdk_dir(path: str) -> bool:
    """Whether ``path`` is an SDK model directory (holds ``deploy.json`` and
    ``pipeline.json``)."""
    return osp.isdir(path) and all(osp.isfile(osp.join(path, f))
                                   for f in ('deploy.json', 'pipeline.json'))


class SDKPoseModel:
    """``mmdeploy_runtime.PoseDetector`` on an SDK model directory, with the
    ``predict`` / ``predict_with_crops`` of
    :class:`kp_plugins.deploy.runtime.OnnxPoseModel` (so ``tools/test_onnx.py``
    scores it with the same ``CocoMetric`` code).

    Args:
        sdk_dir: the SDK model directory.
        device: the SDK's device name (``'cpu'``, ``'cuda'``).

    Raises:
        SDKExportError: no ``mmdeploy_runtime``, or not an SDK directory
            whose crop this class can read.
    """

    def __init__(self, sdk_dir: str, device: str = 'cpu') -> None:
        try:
            from mmdeploy_runtime import PoseDetector
        except ImportError as exc:
            raise SDKExportError(
                'the mmdeploy SDK needs mmdeploy-runtime 1.3.1 (PyPI, CPython 3.11 '
                'wheels): pip install "kp_plugins[deploy]"') from exc
        if not is_sdk_dir(sdk_dir):
            raise SDKExportError(f'{sdk_dir!r} is not an mmdeploy SDK model directory '
                                 '(deploy.json and pipeline.json are missing)')
        with open(osp.join(sdk_dir, 'pipeline.json')) as f:
            tasks = json.load(f)['pipeline']['tasks']
        crop = {t['type']: t for t in tasks[0].get('transforms', [])}
        if 'TopDownGetBboxCenterScale' not in crop:
            raise SDKExportError(f'{sdk_dir!r}: pipeline.json has no TopDownGetBboxCenterScale '
                                 '(not a top-down pose model)')
        with open(osp.join(sdk_dir, 'deploy.json')) as f:
            check_sdk_onnx(osp.join(sdk_dir, json.load(f)['models'][0]['net']))  # no segfault
        self.path = sdk_dir
        self.input_size = tuple(crop['TopDownGetBboxCenterScale']['image_size'])
        self.bbox_padding = float(crop['TopDownGetBboxCenterScale'].get('padding', 1.25))
        self.detector = PoseDetector(sdk_dir, device, 0)
        probe = self.detector(np.zeros((32, 32, 3), np.uint8), [[0.0, 0.0, 31.0, 31.0]])
        self.num_keypoints = int(probe.shape[1])  # K, whatever wrote the directory

    def predict(self, image, bboxes):
        """Keypoints (N, K, 2) in image pixels and scores (N, K) of the
        persons in ``bboxes`` ((N, 4) ``xyxy``, extra columns ignored) on an
        (h, w, 3) uint8 BGR image."""
        bboxes = np.asarray(bboxes, dtype=np.float32)
        if not bboxes.size:
            k = self.num_keypoints
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        out = self.detector(image, bboxes.reshape(len(bboxes), -1)[:, :4].tolist())
        return out[..., :2], out[..., 2]

    def predict_with_crops(self, image, bboxes):
        """:meth:`predict`, plus each person's crop size (N, 2) in image
        pixels as MMPose's pipeline computes it (what ``CocoMetric`` takes
        the person's area from, so scores rank as in ``tools/test.py``)."""
        from kp_plugins.utils.crop import bbox_xyxy_to_center_scale, fix_aspect_ratio
        keypoints, scores = self.predict(image, bboxes)
        boxes = np.asarray(bboxes, dtype=np.float32).reshape(len(keypoints), -1)[:, :4]
        _, scale = bbox_xyxy_to_center_scale(boxes, self.bbox_padding)
        w, h = self.input_size
        return keypoints, scores, fix_aspect_ratio(scale, w / h)
