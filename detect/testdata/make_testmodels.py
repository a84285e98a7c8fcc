#!/usr/bin/python3
"""Build the small ONNX test bundles used by package detect's tests and benchmarks.

Run from the repository root:  /usr/bin/python3 detect/testdata/make_testmodels.py
(`... make_testmodels.py marker-verified` rewrites that bundle only)
(needs Debian's python3-torch, python3-onnx, python3-opencv, python3-numpy, python3-yaml).

It writes, under detect/testdata/:
  yolov8/   a realistic small YOLOv8-style net (C2f, SPPF, nearest upsample, DFL as a
            fixed 1x1 conv, output [1, 4+nc, N]) with deterministic random weights; the
            benchmark stand-in until the shipped model exists.
  yolov5/   a small YOLOv5-style net (anchors, output [1, N, 5+nc]), 320x256 input,
            exported with batch 1 baked into its reshapes (so batched inference must
            be detected as unsupported and fall back to one forward per tile).
  marker/   an engineered YOLOv8-layout net whose output is known: it "detects" pure
            red squares as dome, pure blue as bullet and pure green as person (mapped
            to ignore), one 8x8 cell at a time, box 48x48 model pixels around the cell
            centre. Lets tests check colour order, tiling and coordinate mapping.
  marker-verified/  marker plus an engineered verifier (verifier.onnx): the mean
            colour of the crop decides; much green around a box (a white or green
            surround) makes it background, so tests can tell which boxes it drops
            and that the crop includes the surroundings.
  bad-*/    broken bundles for the loader's error paths.
  parity/   a fixed input image, and the raw outputs cv2.dnn gives for it through the
            letterbox described in the bundle, to check the Go path against Python.

Export follows the recipe verified for OpenCV 4.6 (docs/DESIGN.md): opset 12, static
shapes written as Python ints, no .chunk(), and Identity nodes that alias initializers
replaced by copies of those initializers.
"""
import hashlib
import os
import shutil
import sys

import cv2
import numpy as np
import onnx
import torch
import torch.nn as nn
import yaml
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- building blocks
class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=True)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.conv(x))


class Bottleneck(nn.Module):
    def __init__(self, c, shortcut=True):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = self.cv1(x)
        c = self.c
        ys = [y[:, 0:c], y[:, c:2 * c]]  # constant slices, never .chunk()
        for m in self.m:
            ys.append(m(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1)
        self.cv2 = Conv(c_ * 4, c2, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


def make_anchors(w, h, strides):
    pts, st = [], []
    for s in strides:
        gw, gh = w // s, h // s
        ys, xs = np.meshgrid(np.arange(gh) + 0.5, np.arange(gw) + 0.5, indexing="ij")
        pts.append(np.stack([xs.ravel(), ys.ravel()], 0))
        st.append(np.full((1, gw * gh), s, np.float32))
    return (torch.tensor(np.concatenate(pts, 1)[None], dtype=torch.float32),
            torch.tensor(np.concatenate(st, 1)[None], dtype=torch.float32))


class YOLOv8(nn.Module):
    """A small YOLOv8-style detector: backbone, PAN neck, decoupled head, DFL."""

    def __init__(self, nc, w=320, h=320, ch=(8, 16, 32, 48, 64), reg_max=16):
        super().__init__()
        c0, c1, c2, c3, c4 = ch
        self.nc, self.reg_max, self.w, self.h = nc, reg_max, w, h
        self.b0 = Conv(3, c0, 3, 2)
        self.b1 = nn.Sequential(Conv(c0, c1, 3, 2), C2f(c1, c1, 1))
        self.b2 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, 2))   # P3 /8
        self.b3 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, 2))   # P4 /16
        self.b4 = nn.Sequential(Conv(c3, c4, 3, 2), C2f(c4, c4, 1), SPPF(c4, c4))  # P5 /32
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n1 = C2f(c4 + c3, c3, 1, False)
        self.n2 = C2f(c3 + c2, c2, 1, False)
        self.d1 = Conv(c2, c2, 3, 2)
        self.n3 = C2f(c2 + c3, c3, 1, False)
        self.d2 = Conv(c3, c3, 3, 2)
        self.n4 = C2f(c3 + c4, c4, 1, False)
        cb, cc = 32, max(c2, min(nc, 100))  # Ultralytics uses cb = 64; halved to stay small
        self.box = nn.ModuleList(
            nn.Sequential(Conv(c, cb, 3), Conv(cb, cb, 3), nn.Conv2d(cb, 4 * reg_max, 1)) for c in (c2, c3, c4))
        self.cls = nn.ModuleList(
            nn.Sequential(Conv(c, cc, 3), Conv(cc, cc, 3), nn.Conv2d(cc, nc, 1)) for c in (c2, c3, c4))
        self.dfl = nn.Conv2d(reg_max, 1, 1, bias=False)
        self.dfl.weight.data[:] = torch.arange(reg_max, dtype=torch.float32).view(1, reg_max, 1, 1)
        self.dfl.weight.requires_grad_(False)
        anchors, strides = make_anchors(w, h, (8, 16, 32))
        self.register_buffer("anchors", anchors)
        # A [1,1,N] constant broadcast over channels trips OpenCV 4.6; use the full shape.
        self.register_buffer("strides", strides.expand(1, 4, strides.shape[2]).clone())
        self.n = anchors.shape[2]
        self.levels = [(w // s) * (h // s) for s in (8, 16, 32)]
        for seq, s in zip(self.cls, (8, 16, 32)):  # Ultralytics' prior: few objects per image
            seq[-1].bias.data[:] = float(np.log(5 / nc / (640 / s) ** 2))
            seq[-1].weight.data *= 0.1

    def forward(self, x):
        x0 = self.b0(x)
        p3 = self.b2(self.b1(x0))
        p4 = self.b3(p3)
        p5 = self.b4(p4)
        t4 = self.n1(torch.cat([self.up(p5), p4], 1))
        o3 = self.n2(torch.cat([self.up(t4), p3], 1))
        o4 = self.n3(torch.cat([self.d1(o3), t4], 1))
        o5 = self.n4(torch.cat([self.d2(o4), p5], 1))
        no = 4 * self.reg_max + self.nc
        outs = []
        for i, f in enumerate((o3, o4, o5)):
            y = torch.cat([self.box[i](f), self.cls[i](f)], 1)
            outs.append(y.view(-1, no, self.levels[i]))
        y = torch.cat(outs, 2)
        box = y[:, 0:4 * self.reg_max]
        cls = y[:, 4 * self.reg_max:no]
        # DFL: [b, 4*16, N] -> [b, 16, 4, N] softmax over bins -> fixed 1x1 conv -> [b, 4, N]
        d = box.view(-1, 4, self.reg_max, self.n).transpose(2, 1).softmax(1)
        d = self.dfl(d).view(-1, 4, self.n)
        lt, rb = d[:, 0:2], d[:, 2:4]
        x1y1 = self.anchors - lt
        x2y2 = self.anchors + rb
        cxy = (x1y1 + x2y2) * 0.5
        wh = x2y2 - x1y1
        dbox = torch.cat([cxy, wh], 1) * self.strides
        return torch.cat([dbox, cls.sigmoid()], 1)


class YOLOv5(nn.Module):
    """A small YOLOv5-style detector with anchors; output [1, N, 5+nc]; batch 1 baked in."""

    def __init__(self, nc, w=320, h=256, ch=(8, 16, 32, 64)):
        super().__init__()
        c0, c1, c2, c3 = ch
        self.nc, self.w, self.h = nc, w, h
        self.stem = nn.Sequential(Conv(3, c0, 3, 2), Conv(c0, c1, 3, 2), C2f(c1, c1, 1))
        self.p3 = nn.Sequential(Conv(c1, c2, 3, 2), C2f(c2, c2, 1))
        self.p4 = nn.Sequential(Conv(c2, c3, 3, 2), C2f(c3, c3, 1), SPPF(c3, c3))
        self.na = 3
        self.anchors = [[(10, 13), (16, 30), (33, 23)], [(30, 61), (62, 45), (59, 119)]]
        self.strides = [8, 16]
        self.heads = nn.ModuleList(nn.Conv2d(c, self.na * (5 + nc), 1) for c in (c2, c3))
        for hd in self.heads:
            b = hd.bias.data.view(self.na, 5 + nc)
            b[:, 4] = -4.0
            hd.weight.data *= 0.1
        grids = []
        for s, anc in zip(self.strides, self.anchors):
            gw, gh = w // s, h // s
            ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
            g = np.stack([xs, ys], -1).astype(np.float32)[None, None]            # 1,1,gh,gw,2
            g = np.broadcast_to(g, (1, self.na, gh, gw, 2)).copy()
            a = np.array(anc, np.float32).reshape(1, self.na, 1, 1, 2)
            a = np.broadcast_to(a, (1, self.na, gh, gw, 2)).copy()
            grids.append((torch.tensor(g), torch.tensor(a), gw, gh))
        for i, (g, a, _, _) in enumerate(grids):
            self.register_buffer(f"grid{i}", g)
            self.register_buffer(f"anchor{i}", a)
        self.sizes = [(gw, gh) for _, _, gw, gh in grids]

    def forward(self, x):
        f = self.stem(x)
        f3 = self.p3(f)
        f4 = self.p4(f3)
        no = 5 + self.nc
        outs = []
        for i, feat in enumerate((f3, f4)):
            gw, gh = self.sizes[i]
            y = self.heads[i](feat).view(1, self.na, no, gh, gw).permute(0, 1, 3, 4, 2).sigmoid()
            g, a = getattr(self, f"grid{i}"), getattr(self, f"anchor{i}")
            xy = (y[..., 0:2] * 2 - 0.5 + g) * self.strides[i]
            wh = (y[..., 2:4] * 2) ** 2 * a
            y = torch.cat([xy, wh, y[..., 4:no]], -1)
            outs.append(y.view(1, self.na * gh * gw, no))
        return torch.cat(outs, 1)


class Marker(nn.Module):
    """Engineered YOLOv8-layout net: pure red -> class 0, blue -> 1, green -> 4.

    A cell (8x8 model pixels) scores ~1 when one colour fully covers it and ~0
    when it covers 7/8 of it or less. Its box is measured, not learnt: counting
    coloured pixels left, right, above and below the cell (up to K = 64 pixels)
    gives the edges of the coloured rectangle, so every cell of one square
    predicts the same tight box and NMS leaves one detection per square.
    """

    def __init__(self, w=320, h=320, k=64):
        super().__init__()
        self.gw, self.gh = w // 8, h // 8
        self.n = self.gw * self.gh
        self.colour = nn.Conv2d(3, 3, 1)
        sharp = 20.0
        self.colour.weight.data[:] = sharp * torch.tensor(
            [[1, -.5, -.5], [-.5, 1, -.5], [-.5, -.5, 1]], dtype=torch.float32).view(3, 3, 1, 1)
        self.colour.bias.data[:] = -sharp * 0.5
        self.pool = nn.AvgPool2d(8, 8)
        self.score = nn.Conv2d(3, 5, 1)
        wts = torch.zeros(5, 3)
        bias = torch.full((5,), -30.0)
        for cls, ch in ((0, 0), (1, 2), (4, 1)):  # dome <- red, bullet <- blue, person <- green
            wts[cls, ch] = 80.0
            bias[cls] = -80.0 * 0.93
        self.score.weight.data[:] = wts.view(5, 3, 1, 1)
        self.score.bias.data[:] = bias
        # any colour: sum of the three masks
        self.any = nn.Conv2d(3, 1, 1, bias=False)
        self.any.weight.data[:] = 1.0
        kw = 2 * k + 8
        # Horizontal counts at stride 8: output g sees input x = 8g - k + i.
        # Left: x in [8g-k, 8g-1] -> i in [0, k-1]; right: x in [8g+8, 8g+7+k] -> i in [k+8, 2k+7].
        self.hcount = nn.Conv2d(1, 2, (1, kw), stride=(1, 8), padding=(0, k), bias=False)
        self.vcount = nn.Conv2d(1, 2, (kw, 1), stride=(8, 1), padding=(k, 0), bias=False)
        for conv in (self.hcount, self.vcount):
            conv.weight.data.zero_()
        self.hcount.weight.data[0, 0, 0, 0:k] = 1.0
        self.hcount.weight.data[1, 0, 0, k + 8:2 * k + 8] = 1.0
        self.vcount.weight.data[0, 0, 0:k, 0] = 1.0
        self.vcount.weight.data[1, 0, k + 8:2 * k + 8, 0] = 1.0
        self.hpool = nn.MaxPool2d((8, 1), (8, 1))
        self.vpool = nn.MaxPool2d((1, 8), (1, 8))
        # counts (left, right, up, down) -> (cx, cy, w, h) offsets from the cell
        self.box = nn.Conv2d(4, 4, 1)
        self.box.weight.data[:] = torch.tensor(
            [[-.5, .5, 0, 0], [0, 0, -.5, .5], [1, 1, 0, 0], [0, 0, 1, 1]], dtype=torch.float32).view(4, 4, 1, 1)
        self.box.bias.data.zero_()
        ys, xs = np.meshgrid(np.arange(self.gh) * 8 + 4, np.arange(self.gw) * 8 + 4, indexing="ij")
        grid = np.stack([xs, ys, np.full_like(xs, 8), np.full_like(xs, 8)], 0).astype(np.float32)[None]
        self.register_buffer("grid", torch.tensor(grid))

    def forward(self, x):
        m = torch.sigmoid(self.colour(x))
        s = torch.sigmoid(self.score(self.pool(m)))
        a = self.any(m)
        counts = torch.cat([self.hpool(self.hcount(a)), self.vpool(self.vcount(a))], 1)
        b = self.box(counts) + self.grid
        return torch.cat([b, s], 1).view(-1, 9, self.n)


# ---------------------------------------------------------------- export helpers
def fix_identity_initializers(path):
    """Replace Identity nodes fed by an initializer with a copy of that initializer."""
    m = onnx.load(path)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    keep = []
    for node in g.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            g.initializer.append(t)
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    onnx.checker.check_model(m)
    onnx.save(m, path)


def export(model, w, h, path):
    model.eval()
    x = torch.zeros(1, 3, h, w)
    with torch.no_grad():
        torch.onnx.export(model, x, path, opset_version=12, input_names=["images"],
                          output_names=["output0"], do_constant_folding=True)
    fix_identity_initializers(path)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_bundle(d, name, layout, w, h, labels, types, threshold, extra=None):
    onnx_path = os.path.join(d, "model.onnx")
    man = {
        "name": name,
        "version": "0.0.1",
        "layout": layout,
        "input": {"width": w, "height": h, "color": "rgb", "scale": 1 / 255.0},
        "labels": labels,
        "types": types,
        "threshold": threshold,
        "nms_iou": 0.5,
        "sha256": sha256(onnx_path),
        "training": {"data": "none: deterministic test weights", "seed": 1,
                     "command": "python3 detect/testdata/make_testmodels.py"},
        "metrics": {},
    }
    if extra:
        man.update(extra)
    with open(os.path.join(d, "model.yaml"), "w") as f:
        yaml.safe_dump(man, f, sort_keys=False)
    return man


def letterbox(img, w, h, pad=114):
    """Same letterbox as package detect: scale to fit, centre, pad with 114."""
    ih, iw = img.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, int(round(iw * s))), max(1, int(round(ih * s)))
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    canvas = np.full((h, w, 3), pad, np.uint8)
    canvas[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas


def cv_forward(onnx_path, blob):
    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(blob)
    return net.forward()


def check_parity(model, onnx_path, w, h, name):
    """Compare torch and cv2.dnn on a random input; refuse to ship a mismatch."""
    rng = np.random.default_rng(7)
    x = rng.random((1, 3, h, w), dtype=np.float32)
    with torch.no_grad():
        want = model(torch.tensor(x)).numpy()
    got = cv_forward(onnx_path, x)
    err = float(np.abs(want - got).max())
    print(f"{name}: output {list(got.shape)}, max |torch - cv2.dnn| = {err:.2e}", file=sys.stderr)
    if err > 1e-3 * max(1.0, float(np.abs(want).max())):
        raise SystemExit(f"{name}: cv2.dnn output differs from torch by {err}")


class MeanColourVerifier(nn.Module):
    """Engineered verifier: logits from the crop's mean colour, softmax.

    background = 20 * mean(G) - 10, every label 0: a crop whose mean green
    is over 0.5 is background, one on grey 114 with a red box is a camera.
    """

    def __init__(self, n_out):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(3, n_out)
        with torch.no_grad():
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            self.fc.weight[0, 1] = 20.0
            self.fc.bias[0] = -10.0

    def forward(self, x):
        return torch.softmax(self.fc(torch.flatten(self.pool(x), 1)), 1)


def make_marker_verified():
    """marker-verified/: the marker bundle with MeanColourVerifier as its verifier."""
    d = os.path.join(HERE, "marker-verified")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    shutil.copy(os.path.join(HERE, "marker", "model.onnx"), d)
    labels = ["dome", "bullet", "ptz", "alpr", "person"]
    v = MeanColourVerifier(1 + len(labels)).eval()
    path = os.path.join(d, "verifier.onnx")
    with torch.no_grad():
        torch.onnx.export(v, torch.zeros(1, 3, 32, 32), path, opset_version=12, input_names=["crop"],
                          output_names=["probs"], do_constant_folding=True)
    fix_identity_initializers(path)
    check_parity(v, path, 32, 32, "marker-verified verifier")
    write_bundle(d, "test-marker-verified", "yolov8", 320, 320, labels,
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr", "person": "ignore"}, 0.5,
                 extra={"verifier": {"file": "verifier.onnx", "sha256": sha256(path), "size": 32, "context": 2.0,
                                     "min_side": 12, "labels": ["background"] + labels, "threshold": 0.5}})


def main():
    if sys.argv[1:] == ["marker-verified"]:
        make_marker_verified()
        return
    torch.manual_seed(1)
    np.random.seed(1)
    out = {}

    # yolov8: realistic small net, 4 camera classes.
    d = os.path.join(HERE, "yolov8")
    os.makedirs(d, exist_ok=True)
    m8 = YOLOv8(nc=4, w=320, h=320)
    export(m8, 320, 320, os.path.join(d, "model.onnx"))
    check_parity(m8, os.path.join(d, "model.onnx"), 320, 320, "yolov8")
    write_bundle(d, "test-yolov8", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr"],
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr"}, 0.35)
    out["yolov8"] = m8

    # yolov5: anchors, non-square input, batch 1 baked in.
    d = os.path.join(HERE, "yolov5")
    os.makedirs(d, exist_ok=True)
    m5 = YOLOv5(nc=3, w=320, h=256)
    export(m5, 320, 256, os.path.join(d, "model.onnx"))
    check_parity(m5, os.path.join(d, "model.onnx"), 320, 256, "yolov5")
    write_bundle(d, "test-yolov5", "yolov5", 320, 256, ["dome", "box-camera", "pedestrian"],
                 {"dome": "dome", "box-camera": "bullet", "pedestrian": "ignore"}, 0.25)

    # marker: engineered, known answers.
    d = os.path.join(HERE, "marker")
    os.makedirs(d, exist_ok=True)
    mm = Marker(320, 320)
    export(mm, 320, 320, os.path.join(d, "model.onnx"))
    check_parity(mm, os.path.join(d, "model.onnx"), 320, 320, "marker")
    write_bundle(d, "test-marker", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr", "person"],
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr", "person": "ignore"},
                 0.5)

    make_marker_verified()

    # Broken bundles (the loader must refuse each with a clear error, never crash).
    src8 = os.path.join(HERE, "marker")  # tiny: keeps testdata small

    def clone(name):
        dd = os.path.join(HERE, name)
        shutil.rmtree(dd, ignore_errors=True)
        os.makedirs(dd)
        return dd

    dd = clone("bad-hash")
    shutil.copy(os.path.join(src8, "model.onnx"), dd)
    man = write_bundle(dd, "bad-hash", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr", "x"],
                       {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr", "x": "ignore"}, 0.35)
    man["sha256"] = "0" * 64
    with open(os.path.join(dd, "model.yaml"), "w") as f:
        yaml.safe_dump(man, f, sort_keys=False)

    dd = clone("bad-person")
    shutil.copy(os.path.join(src8, "model.onnx"), dd)
    write_bundle(dd, "bad-person", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr", "person"],
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr", "person": "unknown"}, 0.35)

    dd = clone("bad-missing")
    shutil.copy(os.path.join(src8, "model.onnx"), dd)
    man = write_bundle(dd, "bad-missing", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr", "x"],
                       {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr", "x": "ignore"}, 0.35)
    del man["layout"], man["labels"]
    with open(os.path.join(dd, "model.yaml"), "w") as f:
        yaml.safe_dump(man, f, sort_keys=False)

    dd = clone("bad-truncated")
    with open(os.path.join(src8, "model.onnx"), "rb") as f:
        data = f.read()
    with open(os.path.join(dd, "model.onnx"), "wb") as f:
        f.write(data[: len(data) // 3])
    write_bundle(dd, "bad-truncated", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr"],
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr"}, 0.35)

    dd = clone("bad-garbage")
    rng = np.random.default_rng(3)
    with open(os.path.join(dd, "model.onnx"), "wb") as f:
        f.write(b"\x08\x07\x12\x07pytorch" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    write_bundle(dd, "bad-garbage", "yolov8", 320, 320, ["dome", "bullet", "ptz", "alpr"],
                 {"dome": "dome", "bullet": "bullet", "ptz": "ptz", "alpr": "alpr"}, 0.35)

    # A valid ONNX whose output does not match the manifest (nc says 2, model has 4).
    dd = clone("bad-shape")
    shutil.copy(os.path.join(src8, "model.onnx"), dd)
    write_bundle(dd, "bad-shape", "yolov8", 320, 320, ["dome", "bullet"],
                 {"dome": "dome", "bullet": "bullet"}, 0.35)

    # A valid ONNX fed the wrong input size by its manifest (forward must fail cleanly).
    dd = clone("bad-input")
    shutil.copy(os.path.join(HERE, "yolov5", "model.onnx"), dd)
    write_bundle(dd, "bad-input", "yolov5", 200, 200, ["dome", "box-camera", "pedestrian"],
                 {"dome": "dome", "box-camera": "bullet", "pedestrian": "ignore"}, 0.25)

    # Parity: a fixed synthetic image, letterboxed per bundle, raw cv2.dnn outputs.
    d = os.path.join(HERE, "parity")
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(11)
    img = (rng.random((90, 160, 3)) * 255).astype(np.uint8)
    img = cv2.resize(img, (480, 270), interpolation=cv2.INTER_CUBIC)  # smooth structure
    cv2.rectangle(img, (100, 60), (130, 90), (0, 0, 255), -1)
    cv2.circle(img, (300, 150), 40, (255, 255, 255), -1)
    cv2.imwrite(os.path.join(d, "input.png"), img)
    for name in ("yolov8", "yolov5", "marker"):
        with open(os.path.join(HERE, name, "model.yaml")) as f:
            man = yaml.safe_load(f)
        w, h = man["input"]["width"], man["input"]["height"]
        canvas = letterbox(img, w, h)
        blob = cv2.dnn.blobFromImage(canvas, man["input"]["scale"], (w, h), (0, 0, 0), swapRB=True, crop=False)
        y = cv_forward(os.path.join(HERE, name, "model.onnx"), blob).astype(np.float32)
        with open(os.path.join(d, name + ".f32"), "wb") as f:
            f.write(y.astype("<f4").tobytes())
        with open(os.path.join(d, name + ".shape"), "w") as f:
            f.write(" ".join(str(int(v)) for v in y.shape) + "\n")
        print(f"parity {name}: {list(y.shape)}", file=sys.stderr)


if __name__ == "__main__":
    main()
