"""Post-processing (class-aware NMS) and detection metrics used while training.

The reference evaluation is `camaudit eval detect` (Go, eval/detect.go), which
runs the exported bundle through the real detector; this module mirrors its
definitions for quick validation inside train.py:
- a detection is a true positive if it has the class of a not-yet-matched
  ground-truth box with IoU >= 0.5 (greedy, highest score first);
- AP50 is the area under the precision/recall curve with the precision
  envelope (all-point interpolation), per class; overall AP50 is the mean over
  classes that have ground truth;
- size buckets use the ground-truth box's longest side: <16, 16-32, >32 px.
"""

import numpy as np
import torch

from loss import box_iou

BUCKETS = (("lt16", 0, 16), ("16to32", 16, 32), ("gt32", 32, 1e9))


def nms(boxes, scores, iou_thr):
    """Greedy NMS on [K, 4] boxes; returns kept indices (descending score)."""
    order = scores.argsort(descending=True)
    keep = []
    while order.numel():
        i = order[0]
        keep.append(int(i))
        if order.numel() == 1:
            break
        rest = order[1:]
        iou = box_iou(boxes[i][None], boxes[rest])
        order = rest[iou <= iou_thr]
    return keep


def postprocess(logits, boxes, conf=0.01, iou_thr=0.5, max_det=300, pre_nms=3000):
    """Per image: list of (boxes [K,4], scores [K], classes [K]) after class-aware NMS."""
    out = []
    scores = logits.sigmoid()
    B, N, C = scores.shape
    for b in range(B):
        s = scores[b]
        idx, cls = (s > conf).nonzero(as_tuple=True)
        sc = s[idx, cls]
        if sc.numel() > pre_nms:
            top = sc.topk(pre_nms).indices
            idx, cls, sc = idx[top], cls[top], sc[top]
        bx = boxes[b][idx]
        # Offset boxes per class so one NMS pass is class-aware.
        off = bx + cls[:, None].float() * 1e5
        keep = nms(off, sc, iou_thr)[:max_det]
        out.append((bx[keep], sc[keep], cls[keep]))
    return out


def match(det_boxes, det_scores, det_cls, gt, iou_thr=0.5):
    """Greedy matching of one image; returns tp flags per detection and matched gt flags."""
    order = np.argsort(-det_scores, kind="stable")
    tp = np.zeros(len(det_scores), bool)
    used = np.zeros(len(gt), bool)
    if len(gt) == 0 or len(det_scores) == 0:
        return tp, used, np.full(len(det_scores), -1)
    ious = box_iou(torch.from_numpy(det_boxes)[:, None, :], torch.from_numpy(gt[:, 1:5])[None]).numpy()
    which = np.full(len(det_scores), -1)
    for i in order:
        cand = np.where((gt[:, 0] == det_cls[i]) & ~used)[0]
        if len(cand) == 0:
            continue
        j = cand[np.argmax(ious[i, cand])]
        if ious[i, j] >= iou_thr:
            tp[i] = True
            used[j] = True
            which[i] = j
    return tp, used, which


def average_precision(tp, scores, n_gt):
    """All-point interpolated AP from per-detection tp flags and scores."""
    if n_gt == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    rec = ctp / n_gt
    prec = ctp / np.maximum(ctp + cfp, 1e-12)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[1.0], prec, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


class Evaluator:
    """Accumulates detections and ground truth over images; summary() gives metrics."""

    def __init__(self, nc, names, threshold):
        self.nc, self.names, self.threshold = nc, names, threshold
        self.recs = []  # (scores, cls, tp) per image
        self.gts = []  # gt [K, 5] per image
        self.matched = []  # per-image matched-at-threshold flags of gt

    def add(self, det_boxes, det_scores, det_cls, gt):
        det_boxes = np.asarray(det_boxes, np.float32).reshape(-1, 4)
        det_scores = np.asarray(det_scores, np.float32)
        det_cls = np.asarray(det_cls, np.int64)
        gt = np.asarray(gt, np.float32).reshape(-1, 5)
        tp, _, _ = match(det_boxes, det_scores, det_cls, gt)
        keep = det_scores >= self.threshold
        _, used_thr, _ = match(det_boxes[keep], det_scores[keep], det_cls[keep], gt)
        self.recs.append((det_scores, det_cls, tp, keep))
        self.gts.append(gt)
        self.matched.append(used_thr)

    def best_threshold(self, lo=0.05, hi=0.7, step=0.025):
        """The score threshold with the best class-aware F1 (ties: the lower one)."""
        if not self.recs:
            return None
        scores = np.concatenate([r[0] for r in self.recs])
        tp = np.concatenate([r[2] for r in self.recs])
        n_gt = sum(len(g) for g in self.gts)
        best, best_f1 = None, -1.0
        for thr in np.arange(lo, hi + 1e-9, step):
            keep = scores >= thr
            ntp = int(tp[keep].sum())
            p = ntp / max(int(keep.sum()), 1)
            r = ntp / max(n_gt, 1)
            f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
            if f1 > best_f1 + 1e-9:
                best, best_f1 = round(float(thr), 3), f1
        return best, best_f1

    def summary(self):
        scores = np.concatenate([r[0] for r in self.recs]) if self.recs else np.zeros(0)
        cls = np.concatenate([r[1] for r in self.recs]) if self.recs else np.zeros(0, np.int64)
        tp = np.concatenate([r[2] for r in self.recs]) if self.recs else np.zeros(0, bool)
        gt = np.concatenate(self.gts) if self.gts else np.zeros((0, 5), np.float32)
        matched = np.concatenate(self.matched) if self.matched else np.zeros(0, bool)
        n_det_thr = sum(int(r[3].sum()) for r in self.recs)
        res = {"images": len(self.gts), "objects": int(len(gt)), "classes": {}}
        aps = []
        for c in range(self.nc):
            m = cls == c
            n = int((gt[:, 0] == c).sum())
            ap = average_precision(tp[m], scores[m], n)
            rec = float(matched[gt[:, 0] == c].mean()) if n else float("nan")
            res["classes"][self.names[c]] = {"ap50": ap, "recall": rec, "objects": n}
            if n:
                aps.append(ap)
        res["ap50"] = float(np.mean(aps)) if aps else float("nan")
        ntp = int(matched.sum())
        res["precision"] = ntp / n_det_thr if n_det_thr else 0.0
        res["recall"] = ntp / len(gt) if len(gt) else float("nan")
        side = np.maximum(gt[:, 3] - gt[:, 1], gt[:, 4] - gt[:, 2]) if len(gt) else np.zeros(0)
        for name, lo, hi in BUCKETS:
            m = (side >= lo) & (side < hi)
            res["recall_" + name] = float(matched[m].mean()) if m.any() else float("nan")
        return res
