"""Task-aligned assignment and detection loss for CamNet (anchor-free, no DFL).

Assignment follows YOLOv8's task-aligned assigner, adapted to tiny objects:
candidate cells for a box are those of the pyramid levels its size suits
(stride 4 for <= 48 px, stride 8 for 16..128 px, stride 16 for >= 48 px) whose
centre lies inside the box or within 1.25 strides of the box centre (so even a
4 px camera gets cells). Among candidates the top-k by
score^alpha * IoU^beta become positives; a cell claimed by several boxes goes to
the one it overlaps most. Class targets are the normalised alignment (soft
labels, quality-aware); the box loss is CIoU weighted by those targets.
"""

import math
import warnings

import torch
import torch.nn.functional as F

from model import STRIDES, ltrb_act, make_anchors

# Level size ranges (longest box side, pixels) per stride.
LEVEL_RANGE = {4: (0.0, 48.0), 8: (16.0, 128.0), 16: (48.0, 1e9)}

warnings.filterwarnings("ignore", message="scatter_reduce", category=UserWarning)


def decode(maps, nc):
    """Flattens raw maps to logits [B, N, nc], boxes [B, N, 4] xyxy, anchors, strides."""
    sizes = [(m.shape[2], m.shape[3]) for m in maps]
    centres, strides = make_anchors(sizes)
    centres, strides = centres.to(maps[0].device), strides.to(maps[0].device)
    y = torch.cat([m.flatten(2) for m in maps], 2).transpose(1, 2)  # [B, N, 4+nc]
    d = ltrb_act(y[..., :4]) * strides[None, :, None]
    boxes = torch.cat([centres - d[..., :2], centres + d[..., 2:]], -1)
    return y[..., 4:], boxes, centres, strides


def box_iou(a, b, eps=1e-7):
    """IoU of broadcastable xyxy boxes [..., 4]."""
    iw = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(0)
    ih = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(0)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a + area_b - inter + eps)


def ciou(a, b, eps=1e-7):
    """Complete IoU of matching xyxy boxes [..., 4]."""
    iou = box_iou(a, b, eps)
    cw = torch.maximum(a[..., 2], b[..., 2]) - torch.minimum(a[..., 0], b[..., 0])
    ch = torch.maximum(a[..., 3], b[..., 3]) - torch.minimum(a[..., 1], b[..., 1])
    c2 = cw ** 2 + ch ** 2 + eps
    rho2 = ((a[..., 0] + a[..., 2] - b[..., 0] - b[..., 2]) ** 2 +
            (a[..., 1] + a[..., 3] - b[..., 1] - b[..., 3]) ** 2) / 4
    wa, ha = a[..., 2] - a[..., 0], (a[..., 3] - a[..., 1]).clamp(min=eps)
    wb, hb = b[..., 2] - b[..., 0], (b[..., 3] - b[..., 1]).clamp(min=eps)
    v = (4 / math.pi ** 2) * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@torch.no_grad()
def assign_dense(scores, pboxes, centres, strides, gt, gmask, topk=10, alpha=0.5, beta=6.0,
                 radius=1.25):
    """Task-aligned assignment, dense reference implementation ([B, G, N] tensors).

    scores [B, N, C] (sigmoid), pboxes [B, N, 4], centres [N, 2], strides [N],
    gt [B, G, 5] (cls, x1, y1, x2, y2), gmask [B, G].
    Returns fg [B, N] bool, target boxes [B, N, 4], target scores [B, N, C].
    """
    B, N, C = scores.shape
    G = gt.shape[1]
    gb = gt[..., 1:5]
    gcls = gt[..., 0].long().clamp(0, C - 1)
    gw, gh = gb[..., 2] - gb[..., 0], gb[..., 3] - gb[..., 1]
    gcx, gcy = (gb[..., 0] + gb[..., 2]) / 2, (gb[..., 1] + gb[..., 3]) / 2
    size = torch.maximum(gw, gh)[..., None]  # [B, G, 1]
    lo = torch.zeros_like(strides)
    hi = torch.zeros_like(strides)
    for s, (a, b) in LEVEL_RANGE.items():
        lo[strides == s] = a
        hi[strides == s] = b
    allowed = (size >= lo) & (size <= hi)  # [B, G, N]
    hx = torch.maximum(gw[..., None] / 2, radius * strides)
    hy = torch.maximum(gh[..., None] / 2, radius * strides)
    inside = ((centres[:, 0] - gcx[..., None]).abs() < hx) & ((centres[:, 1] - gcy[..., None]).abs() < hy)
    cand = allowed & inside & gmask[..., None]

    iou = box_iou(gb[:, :, None, :], pboxes[:, None, :, :]).clamp(0)  # [B, G, N]
    sc = torch.gather(scores.transpose(1, 2), 1, gcls[..., None].expand(B, G, N))  # [B, G, N]
    align = sc.pow(alpha) * iou.pow(beta) * cand
    k = min(topk, N)
    # Rank candidates first (a tiny bonus) so a box always gets its top-k
    # candidates even while predictions do not overlap it yet.
    top = (align + cand * 1e-9).topk(k, dim=-1).indices
    pos = torch.zeros_like(cand).scatter_(-1, top, True) & cand
    multi = pos.sum(1) > 1  # [B, N]
    if multi.any():
        best = (iou * pos).argmax(1)  # [B, N]
        one = F.one_hot(best, G).transpose(1, 2).bool()
        pos = torch.where(multi[:, None, :], one & pos, pos)
    fg = pos.any(1)
    gidx = pos.float().argmax(1)  # [B, N]
    tboxes = torch.gather(gb, 1, gidx[..., None].expand(B, N, 4))
    tcls = torch.gather(gcls, 1, gidx)
    align = align * pos
    amax = align.amax(-1, keepdim=True)
    imax = (iou * pos).amax(-1, keepdim=True)
    norm = (align * imax / (amax + 1e-9)).amax(1)  # [B, N]
    # Keep a floor so early, non-overlapping positives still learn their class.
    norm = torch.where(fg, norm.clamp(min=0.05), norm)
    tscores = F.one_hot(tcls, C).float() * (norm * fg)[..., None]
    return fg, tboxes, tscores


def _candidates(centres, strides, gt, gmask, radius):
    """Candidate mask [B, G, N]: suitable level and centre near the box."""
    gb = gt[..., 1:5]
    gw, gh = gb[..., 2] - gb[..., 0], gb[..., 3] - gb[..., 1]
    gcx, gcy = (gb[..., 0] + gb[..., 2]) / 2, (gb[..., 1] + gb[..., 3]) / 2
    size = torch.maximum(gw, gh)[..., None]
    lo = torch.zeros_like(strides)
    hi = torch.zeros_like(strides)
    for s, (a, b) in LEVEL_RANGE.items():
        lo[strides == s] = a
        hi[strides == s] = b
    hx = torch.maximum(gw[..., None] / 2, radius * strides)
    hy = torch.maximum(gh[..., None] / 2, radius * strides)
    return ((size >= lo) & (size <= hi) & gmask[..., None] &
            ((centres[:, 0] - gcx[..., None]).abs() < hx) & ((centres[:, 1] - gcy[..., None]).abs() < hy))


@torch.no_grad()
def assign(scores, pboxes, centres, strides, gt, gmask, topk=10, alpha=0.5, beta=6.0,
           radius=1.25):
    """Task-aligned assignment (sparse: only candidate cells are scored).

    Same result as assign_dense, far cheaper: a box has at most a few dozen
    candidate cells among thousands. scores [B, N, C] (sigmoid), pboxes
    [B, N, 4], centres [N, 2], strides [N], gt [B, G, 5] (cls, x1, y1, x2,
    y2), gmask [B, G]. Returns fg [B, N] bool, target boxes [B, N, 4],
    target scores [B, N, C].
    """
    B, N, C = scores.shape
    G = gt.shape[1]
    dev = scores.device
    fg = torch.zeros(B, N, dtype=torch.bool, device=dev)
    tboxes = torch.zeros(B, N, 4, device=dev)
    tscores = torch.zeros(B, N, C, device=dev)
    bi, gi, ni = _candidates(centres, strides, gt, gmask, radius).nonzero(as_tuple=True)
    if bi.numel() == 0:
        return fg, tboxes, tscores
    gb = gt[bi, gi, 1:5]
    gc = gt[bi, gi, 0].long().clamp(0, C - 1)
    iou = box_iou(gb, pboxes[bi, ni]).clamp(0)
    align = scores[bi, ni, gc].pow(alpha) * iou.pow(beta)
    # Top-k candidates per box: order by (box, align desc), rank within box.
    group = bi * G + gi
    key = align + 1e-9  # candidates rank above nothing, as in assign_dense
    o1 = torch.sort(key, descending=True, stable=True).indices
    o2 = torch.sort(group[o1], stable=True).indices
    order = o1[o2]
    g_sorted = group[order]
    first = torch.ones_like(g_sorted, dtype=torch.bool)
    first[1:] = g_sorted[1:] != g_sorted[:-1]
    start = torch.cummax(torch.where(first, torch.arange(len(order), device=dev), torch.zeros_like(order)), 0).values
    rank = torch.arange(len(order), device=dev) - start
    keep = order[rank < topk]
    bi, gi, ni, gb, gc, iou, align, group = bi[keep], gi[keep], ni[keep], gb[keep], gc[keep], iou[keep], align[keep], group[keep]
    # A cell claimed by several boxes goes to the one it overlaps most.
    cell = bi * N + ni
    o1 = torch.sort(iou, descending=True, stable=True).indices
    o2 = torch.sort(cell[o1], stable=True).indices
    order = o1[o2]
    c_sorted = cell[order]
    first = torch.ones_like(c_sorted, dtype=torch.bool)
    first[1:] = c_sorted[1:] != c_sorted[:-1]
    win = order[first]
    bi, ni, gb, gc, iou, align, group = bi[win], ni[win], gb[win], gc[win], iou[win], align[win], group[win]
    # Normalised alignment: align * (box's best IoU) / (box's best align).
    amax = torch.zeros(B * G, device=dev).scatter_reduce(0, group, align, "amax", include_self=False)
    imax = torch.zeros(B * G, device=dev).scatter_reduce(0, group, iou, "amax", include_self=False)
    norm = (align * imax[group] / (amax[group] + 1e-9)).clamp(min=0.05)
    fg[bi, ni] = True
    tboxes[bi, ni] = gb
    tscores[bi, ni, gc] = norm
    return fg, tboxes, tscores


class Loss:
    """Callable computing (total, parts) from raw maps and padded ground truth."""

    def __init__(self, nc, box_w=7.5, cls_w=1.0):
        self.nc, self.box_w, self.cls_w = nc, box_w, cls_w

    def __call__(self, maps, gt, gmask):
        logits, pboxes, centres, strides = decode(maps, self.nc)
        scores = logits.detach().sigmoid()
        fg, tboxes, tscores = assign(scores, pboxes.detach(), centres, strides, gt, gmask)
        tsum = tscores.sum().clamp(min=1.0)
        lcls = F.binary_cross_entropy_with_logits(logits, tscores, reduction="sum") / tsum
        if fg.any():
            w = tscores.sum(-1)[fg]
            lbox = ((1.0 - ciou(pboxes[fg], tboxes[fg])) * w).sum() / tsum
        else:
            lbox = logits.sum() * 0.0
        total = self.cls_w * lcls + self.box_w * lbox
        return total, {"cls": float(lcls), "box": float(lbox), "pos": int(fg.sum())}
