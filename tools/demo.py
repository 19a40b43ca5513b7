"""Draw the poses a pose model predicts on images, folders or videos.

    # persons from an MMDet detector
    python tools/demo.py configs/bbox_r50.py bbox_r50.pth photo.jpg photos/ clip.mp4 \\
        --out-dir demo_out --det-config mmdet::rtmdet/rtmdet_m_8xb32-300e_coco.py \\
        --det-checkpoint rtmdet_m.pth
    # from an Ultralytics detector, from a bbox file, or one person = whole image
    python tools/demo.py CONFIG CKPT photos/ --out-dir out --ultralytics yolo11n.pt
    python tools/demo.py CONFIG CKPT photos/ --out-dir out --bbox-file dets.json \\
        [--bbox-ann dets_images.json]
    python tools/demo.py CONFIG CKPT photo.jpg --out-dir out --det whole-image
    # an exported ONNX model (tools/export_onnx.py) run by onnxruntime
    python tools/demo.py CONFIG model.onnx photos/ --out-dir out --backend onnxruntime
    # a bottom-up model finds the persons itself: no detector, no boxes
    python tools/demo.py configs/yolo_effl0_256.py yolo_effl0.pth photos/ --out-dir out
    python tools/demo.py configs/yolo_effl0_256.py yolo.onnx photos/ --out-dir out \
        --backend onnxruntime

The pose model is any top-down config + checkpoint, kp_plugins' or MMPose's
(mmpose.apis.init_model + inference_topdown), or a bottom-up one
(inference_bottomup; --bbox-thr then filters its persons by their score);
skeletons are drawn by MMPose's PoseLocalVisualizer. For each image the demo
writes <name>.png (drawn) and <name>.json (per person: bbox [x1, y1, x2, y2],
bbox_score, keypoints K x [x, y] in image pixels, keypoint_scores); for a
video, <name>.mp4 and one <name>.json with the persons of every frame. Runs on
CPU (the default without CUDA).

--bbox-file takes a COCO results file (tools/detect_persons.py writes one);
images are matched to its image_id through --bbox-ann (a COCO file with
images[].file_name, e.g. the _images.json detect_persons writes) or, without
it, through the number in a COCO-style file name (000000000785.jpg -> 785).
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.config import DictAction

DET_MODES = ('mmdet', 'ultralytics', 'bbox-file', 'whole-image')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw predicted poses on images / videos',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='pose config (kp_plugins or MMPose; top-down, or '
                        'bottom-up such as configs/yolo_effl0_256.py)')
    parser.add_argument('checkpoint', help='pose checkpoint (local file); with --backend '
                        'onnxruntime, the .onnx file')
    parser.add_argument('inputs', nargs='+', help='images, image folders, .txt image lists, videos')
    parser.add_argument('--out-dir', required=True,
                        help='folder for the drawn images / videos and JSON')
    parser.add_argument('--backend', choices=('pytorch', 'onnxruntime'), default='pytorch',
                        help='run the checkpoint with PyTorch (default) or an exported .onnx '
                        'file with onnxruntime')
    parser.add_argument('--det', choices=DET_MODES, help='where person boxes come from (default: '
                        'from the options given, else whole-image)')
    parser.add_argument('--det-config', help='MMDet detector config (path or mmdet::...)')
    parser.add_argument('--det-checkpoint', help='MMDet detector checkpoint')
    parser.add_argument('--ultralytics', metavar='WEIGHTS', help='Ultralytics YOLO weights (.pt)')
    parser.add_argument('--imgsz', type=int, default=640, help='Ultralytics inference size')
    parser.add_argument('--bbox-file', help='COCO results file of person boxes')
    parser.add_argument('--bbox-ann',
                        help='COCO file mapping the bbox file\'s image_id to file names')
    parser.add_argument('--person-class', type=int, help="detector's person class index "
                        "(default: the class named 'person')")
    parser.add_argument('--bbox-thr', type=float, default=0.3, help='lowest person box score')
    parser.add_argument('--nms-iou', type=float, default=0.3, help='NMS IoU over person boxes')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='lowest keypoint score drawn (all are written to JSON)')
    parser.add_argument('--radius', type=int, default=4, help='keypoint radius')
    parser.add_argument('--thickness', type=int, default=2, help='skeleton line width')
    parser.add_argument('--no-bbox', action='store_true', help='do not draw the person boxes')
    parser.add_argument('--device', help='cpu, cuda:0, ... (default: cuda:0 if available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='overrides for the pose config')
    args = parser.parse_args()
    if args.backend == 'onnxruntime' and not args.checkpoint.endswith('.onnx'):
        parser.error('--backend onnxruntime takes a .onnx file (tools/export_onnx.py) in place '
                     f'of the checkpoint, got {args.checkpoint!r}')
    if args.backend == 'pytorch' and args.checkpoint.endswith('.onnx'):
        parser.error(f'{args.checkpoint!r} is an ONNX file: add --backend onnxruntime')
    args.det_given = args.det is not None or any(
        getattr(args, o) for o in ('det_config', 'det_checkpoint', 'ultralytics', 'bbox_file'))
    if args.det is None:
        args.det = ('mmdet' if args.det_config or args.det_checkpoint else
                    'ultralytics' if args.ultralytics else
                    'bbox-file' if args.bbox_file else 'whole-image')
    needs = dict(mmdet=('det_config', 'det_checkpoint'), ultralytics=('ultralytics', ),
                 **{'bbox-file': ('bbox_file', )}, **{'whole-image': ()})
    for opt in needs[args.det]:
        if getattr(args, opt) is None:
            parser.error(f'--det {args.det} needs --{opt.replace("_", "-")}')
    return args


class BoxSource:
    """Person boxes (N, 5) ``[x1, y1, x2, y2, score]`` for an image."""

    def __init__(self, args) -> None:
        from kp_plugins.apis import build_person_detector, load_bbox_file
        self.mode = args.det
        self.detector = None
        self.bboxes: Dict[int, np.ndarray] = {}
        self.name_to_id: Dict[str, int] = {}
        self.bbox_thr, self.nms_iou = args.bbox_thr, args.nms_iou
        if self.mode in ('mmdet', 'ultralytics'):
            kwargs = dict(device=args.device, person_class=args.person_class,
                          score_thr=args.bbox_thr, nms_iou=args.nms_iou)
            if self.mode == 'mmdet':
                self.detector = build_person_detector(args.det_config, args.det_checkpoint,
                                                      **kwargs)
            else:
                self.detector = build_person_detector(ultralytics=args.ultralytics,
                                                      imgsz=args.imgsz, **kwargs)
            print(self.detector.describe())
        elif self.mode == 'bbox-file':
            self.bboxes = load_bbox_file(args.bbox_file)
            if args.bbox_ann:
                self.name_to_id = self._names_from_ann(args.bbox_ann)

    @staticmethod
    def _names_from_ann(ann_file: str) -> Dict[str, int]:
        if not osp.isfile(ann_file):
            raise FileNotFoundError(f'--bbox-ann {ann_file!r} not found')
        with open(ann_file, encoding='utf-8') as f:
            images = json.load(f).get('images', [])
        names = {}
        for img in images:
            rel = osp.normpath(img['file_name'])
            names[rel] = img['id']
            names.setdefault(osp.basename(rel), img['id'])
        return names

    def image_id(self, path: str) -> Optional[int]:
        """The bbox file's id for ``path``: by --bbox-ann file name (longest
        matching path tail), else the number in a COCO-style name."""
        if self.name_to_id:
            parts = osp.normpath(osp.abspath(path)).split(os.sep)
            for start in range(1, len(parts)):
                tail = osp.join(*parts[start:])
                if tail in self.name_to_id:
                    return self.name_to_id[tail]
            return None
        stem = osp.splitext(osp.basename(path))[0]
        digits = stem.split('_')[-1]
        return int(digits) if digits.isdigit() else None

    def __call__(self, image: np.ndarray, path: Optional[str] = None) -> np.ndarray:
        from kp_plugins.apis import select_person_boxes
        h, w = image.shape[:2]
        if self.mode == 'whole-image':
            return np.array([[0, 0, w, h, 1.0]], dtype=np.float32)
        if self.detector is not None:
            return self.detector([image])[0]
        image_id = self.image_id(path) if path else None
        if image_id is None:
            print(f'warning: {path}: no image_id for it in the bbox file (give --bbox-ann); '
                  'no person drawn', file=sys.stderr)
            return np.zeros((0, 5), np.float32)
        boxes = self.bboxes.get(image_id, np.zeros((0, 5), np.float32))
        return select_person_boxes(boxes[:, :4], boxes[:, 4], np.ones(len(boxes)), 1,
                                   self.bbox_thr, self.nms_iou)


def expand_inputs(inputs: List[str]) -> List[Tuple[str, str]]:
    """``(kind, path)`` for every image / video the inputs name; exits on a
    missing path or an unknown file type."""
    from kp_plugins.apis import (
        IMAGE_EXTENSIONS,
        VIDEO_EXTENSIONS,
        ImageSourceError,
        images_in_folder,
        is_image_file,
        is_video_file,
        read_image_list,
    )
    items = []
    for inp in inputs:
        if osp.isdir(inp):
            names = images_in_folder(inp)
            if not names:
                sys.exit(f'error: no image found in folder {inp!r}')
            items += [('image', osp.join(inp, n)) for n in names]
        elif not osp.exists(inp):
            sys.exit(f'error: input {inp!r} not found')
        elif is_video_file(inp):
            items.append(('video', inp))
        elif is_image_file(inp):
            items.append(('image', inp))
        elif inp.lower().endswith('.txt'):
            try:
                items += [('image', rec.path) for rec in read_image_list(inp).records]
            except ImageSourceError as exc:
                sys.exit(f'error: {exc}')
        else:
            sys.exit(f'error: input {inp!r} is not an image, video, folder or .txt list '
                     f'(known image types: {" ".join(IMAGE_EXTENSIONS)}; '
                     f'videos: {" ".join(VIDEO_EXTENSIONS)})')
    return items


def unique_stem(path: str, used: set) -> str:
    stem = osp.splitext(osp.basename(path))[0]
    name, n = stem, 1
    while name in used:
        name, n = f'{stem}_{n}', n + 1
    used.add(name)
    return name


def output_stems(args, items: List[Tuple[str, str]]) -> List[str]:
    """The output name of each input; exits when an output (``<stem>.png``
    / ``.mp4`` and ``.json`` in --out-dir) would overwrite an input file, or
    --out-dir is an input folder."""
    from kp_plugins.utils.paths import OutputOverwritesInputError, check_outputs_spare_inputs
    used: set = set()
    stems = [unique_stem(path, used) for _, path in items]
    outputs = [osp.join(args.out_dir, stem + ext) for (kind, _), stem in zip(items, stems)
               for ext in ('.png' if kind == 'image' else '.mp4', '.json')]
    read = [path for _, path in items] + list(args.inputs) + [
        args.config, args.checkpoint, args.bbox_file, args.bbox_ann, args.det_config,
        args.det_checkpoint, args.ultralytics]
    try:
        check_outputs_spare_inputs(args.out_dir, outputs, read,
                                   [i for i in args.inputs if osp.isdir(i)])
    except OutputOverwritesInputError as exc:
        sys.exit(f'error: {exc}')
    return stems


class Demo:
    """Pose model + visualizer + box source, applied to images and videos."""

    def __init__(self, args) -> None:
        from kp_plugins.apis import (
            PoseModelError,
            build_pose_visualizer,
            is_bottomup,
            keypoint_names,
            load_pose_model,
        )
        self.args = args
        if args.backend == 'onnxruntime':
            from kp_plugins.deploy.runtime import load_onnx_model
            self.model = load_onnx_model(args.checkpoint)
            exported_from = self.model.metadata.get('config')
            if exported_from != osp.basename(args.config):
                print(f'warning: {args.checkpoint} was exported from {exported_from!r}, '
                      f'not {osp.basename(args.config)!r}; its own metadata is used',
                      file=sys.stderr)
        else:
            self.model = load_pose_model(args.config, args.checkpoint, args.device,
                                         args.cfg_options, bottomup_ok=True)
        self.bottomup = is_bottomup(self.model) or getattr(self.model, 'mode', '') == 'bottomup'
        if self.bottomup and args.det_given:
            raise PoseModelError(
                f'{args.config} is a bottom-up model: it finds the persons itself; drop '
                '--det / --det-config / --det-checkpoint / --ultralytics / --bbox-file')
        self.boxes = None if self.bottomup else BoxSource(args)
        if self.bottomup:
            args.det = 'bottom-up model'
        self.visualizer = build_pose_visualizer(self.model.dataset_meta, args.radius,
                                                args.thickness)
        self.header = dict(pose_config=args.config, boxes_from=args.det, backend=args.backend,
                           keypoint_names=keypoint_names(self.model.dataset_meta))

    def predict(self, image: np.ndarray, boxes: np.ndarray):
        """Poses of the persons in ``boxes`` (N, 5) as a ``PoseDataSample``."""
        from kp_plugins.apis import poses_sample, predict_poses
        if self.args.backend == 'pytorch':
            return predict_poses(self.model, image, boxes)
        keypoints, scores = self.model.predict(image, boxes[:, :4])
        return poses_sample(image.shape[:2], keypoints, scores, boxes)

    def predict_bottomup_onnx(self, image: np.ndarray):
        """The persons a bottom-up ONNX model finds (scoring at least
        --bbox-thr) as a ``PoseDataSample``, as :func:`predict_poses_bottomup`."""
        from kp_plugins.apis import poses_sample
        persons = self.model.predict(image)
        keep = persons.bbox_scores >= self.args.bbox_thr
        boxes = np.concatenate([persons.bboxes[keep], persons.bbox_scores[keep, None]], -1)
        return poses_sample(image.shape[:2], persons.keypoints[keep],
                            persons.keypoint_scores[keep], boxes)

    def frame(self, image: np.ndarray, path: Optional[str]) -> Tuple[np.ndarray, List[dict]]:
        from kp_plugins.apis import draw_poses, poses_to_json, predict_poses_bottomup
        if self.bottomup and self.args.backend == 'onnxruntime':
            sample = self.predict_bottomup_onnx(image)
        elif self.bottomup:
            sample = predict_poses_bottomup(self.model, image, self.args.bbox_thr)
        else:
            sample = self.predict(image, self.boxes(image, path))
        drawn = draw_poses(self.visualizer, image, sample, self.args.kpt_thr,
                           draw_bbox=not self.args.no_bbox)
        return drawn, poses_to_json(sample)

    def image(self, path: str, stem: str) -> int:
        import cv2

        from kp_plugins.apis import read_image
        img = read_image(path)
        drawn, persons = self.frame(img, path)
        out_png = osp.join(self.args.out_dir, stem + '.png')
        if not cv2.imwrite(out_png, drawn):
            raise OSError(f'cannot write {out_png}')
        self._dump(stem, dict(input=path, width=img.shape[1], height=img.shape[0],
                              persons=persons))
        print(f'{path}: {len(persons)} person(s) -> {out_png}')
        return len(persons)

    def video(self, path: str, stem: str) -> int:
        import cv2

        from kp_plugins.apis import UnreadableImageError
        cap = cv2.VideoCapture(path)
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise UnreadableImageError(path, 'cannot open or decode the video')
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        h, w = frame.shape[:2]
        out_video = osp.join(self.args.out_dir, stem + '.mp4')
        writer = cv2.VideoWriter(out_video, cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
        if not writer.isOpened():
            cap.release()
            raise OSError(f'cannot write video {out_video} (no mp4v encoder in OpenCV?)')
        frames, total = [], 0
        try:
            while ok:
                drawn, persons = self.frame(frame, None)
                writer.write(drawn)
                frames.append(dict(frame_id=len(frames), persons=persons))
                total += len(persons)
                ok, frame = cap.read()
        finally:
            writer.release()
            cap.release()
        self._dump(stem, dict(input=path, width=w, height=h, fps=fps, frames=frames))
        print(f'{path}: {len(frames)} frames, {total} person(s) -> {out_video}')
        return total

    def _dump(self, stem: str, record: dict) -> None:
        with open(osp.join(self.args.out_dir, stem + '.json'), 'w', encoding='utf-8') as f:
            json.dump({**self.header, **record}, f)


def main() -> None:
    args = parse_args()
    from kp_plugins.apis import (
        BBoxFileError,
        ImageSourceError,
        PersonDetectorError,
        PoseModelError,
        UnreadableImageError,
    )
    from kp_plugins.deploy.runtime import OnnxModelError
    items = expand_inputs(args.inputs)
    stems = output_stems(args, items)  # before the model is built: never overwrite an input
    try:
        demo = Demo(args)
    except (PoseModelError, PersonDetectorError, BBoxFileError, ImageSourceError,
            OnnxModelError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    if args.det == 'bbox-file' and any(kind == 'video' for kind, _ in items):
        sys.exit('error: --bbox-file gives boxes for images, not for video frames; '
                 'use a detector or --det whole-image for videos')
    os.makedirs(args.out_dir, exist_ok=True)
    done, persons, skipped = 0, 0, []
    for (kind, path), stem in zip(items, stems):
        try:
            persons += demo.image(path, stem) if kind == 'image' else demo.video(path, stem)
            done += 1
        except UnreadableImageError as exc:
            skipped.append(str(exc))
            print(f'warning: skipped unreadable {kind} {exc}', file=sys.stderr)
    print(f'done: {done} input(s), {persons} person(s), {len(skipped)} skipped; '
          f'output in {args.out_dir}')
    if done == 0:
        sys.exit('error: no input could be read: ' + '; '.join(skipped))


if __name__ == '__main__':
    main()
