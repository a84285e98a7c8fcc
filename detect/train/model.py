"""CamNet: a small anchor-free single-stage detector for tiny objects.

The network is built for OpenCV 4.6 DNN on one CPU core: plain 3x3/1x1
convolutions with batch norm folded at export and ReLU (both fused by OpenCV),
aggressive early downsampling with few channels, a top-down feature pyramid and
anchor-free heads at strides 4, 8 and 16 (tiny cameras live on the stride-4
map). Boxes are regressed as left/top/right/bottom distances from each cell
centre in units of the level's stride (no DFL), classes as independent
sigmoids.

`CamNet.forward` returns raw per-level maps for training; `Exported` wraps it
with the decoding that produces the YOLOv8 layout [1, 4+nc, N] (cx, cy, w, h in
input pixels, then sigmoid class scores) with every shape a Python int, as
OpenCV 4.6's ONNX importer needs.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Architecture presets: channels at strides 2, 4, 8, 16 and residual blocks at
# strides 4, 8, 16; neck/head widths per output level (4, 8, 16).
# stem: "conv2" (two 3x3 stride-2 convs) or "patch4" (one 4x4 stride-4 conv);
# dw: per stage (4, 8, 16, neck) whether blocks are depthwise-separable
# (OpenCV 4.6 runs a 3x3 depthwise + 1x1 pair several times faster than a
# full 3x3 conv at the same width).
PRESETS = {
    "n": dict(ch=(8, 16, 32, 64), blocks=(0, 2, 1), neck=(16, 32, 64), head_conv=False),
    "t": dict(ch=(8, 16, 24, 48), blocks=(0, 1, 2), neck=(16, 24, 48), head_conv=False),
    "d": dict(ch=(0, 24, 48, 96), blocks=(1, 2, 2), neck=(24, 48, 96), head_conv=False,
              stem="patch4", dw=(True, True, True, True)),
    "d2": dict(ch=(0, 24, 64, 128), blocks=(1, 3, 3), neck=(24, 48, 96), head_conv=False,
               stem="patch4", dw=(True, True, True, True)),
    "d3": dict(ch=(0, 32, 64, 128), blocks=(2, 3, 3), neck=(32, 64, 96), head_conv=False,
               stem="patch4", dw=(True, True, True, True)),
    "c": dict(ch=(8, 24, 48, 96), blocks=(1, 2, 2), neck=(24, 48, 96), head_conv=False,
              dw=(True, True, True, True)),
}
# Box distances are sigmoid(raw) * BOX_RANGE strides: bounded, and a sigmoid is
# far cheaper than softplus/exp in OpenCV 4.6 (one fused op for all outputs).
BOX_RANGE = 16.0
STRIDES = (4, 8, 16)


class ConvBNAct(nn.Module):
    """Conv + BatchNorm + optional ReLU, padded to keep size (stride 1)."""

    def __init__(self, cin, cout, k=3, s=1, act=True, groups=1, pad=None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2 if pad is None else pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Block(nn.Module):
    """Residual block: 3x3 conv then 3x3 conv (no act), added to the input."""

    def __init__(self, c):
        super().__init__()
        self.a = ConvBNAct(c, c, 3)
        self.b = ConvBNAct(c, c, 3, act=False)

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class DWBlock(nn.Module):
    """Residual depthwise-separable block: dw 3x3 + ReLU, 1x1, add, ReLU."""

    def __init__(self, c):
        super().__init__()
        self.dw = ConvBNAct(c, c, 3, groups=c)
        self.pw = ConvBNAct(c, c, 1, act=False)

    def forward(self, x):
        return F.relu(x + self.pw(self.dw(x)))


def down(cin, cout, dw):
    """Stride-2 transition: full 3x3 conv, or depthwise 3x3 stride 2 + 1x1."""
    if dw:
        return nn.Sequential(ConvBNAct(cin, cin, 3, 2, groups=cin), ConvBNAct(cin, cout, 1))
    return ConvBNAct(cin, cout, 3, 2)


def fuse(c, dw):
    """3x3 mixing conv of the neck: full, or depthwise + 1x1."""
    if dw:
        return nn.Sequential(ConvBNAct(c, c, 3, groups=c), ConvBNAct(c, c, 1))
    return ConvBNAct(c, c, 3)


class Head(nn.Module):
    """One 3x3 conv then 1x1 predictions: 4 box distances and nc class logits."""

    def __init__(self, c, nc, conv=True):
        super().__init__()
        self.stem = ConvBNAct(c, c, 3) if conv else nn.Identity()
        self.pred = nn.Conv2d(c, 4 + nc, 1)

    def forward(self, x):
        return self.pred(self.stem(x))


class CamNet(nn.Module):
    """Backbone (strides 2..16) + top-down FPN + heads at strides 4, 8, 16."""

    def __init__(self, nc=4, preset="n"):
        super().__init__()
        p = PRESETS[preset]
        c1, c2, c3, c4 = p["ch"]
        b2, b3, b4 = p["blocks"]
        n2, n3, n4 = p["neck"]
        self.nc = nc
        self.preset = preset
        dw4, dw8, dw16, dwn = p.get("dw", (False, False, False, False))
        blk = lambda c, dw: DWBlock(c) if dw else Block(c)
        if p.get("stem", "conv2") == "patch4":
            self.stem = ConvBNAct(3, c2, 4, 4, pad=0)
        else:
            self.stem = nn.Sequential(ConvBNAct(3, c1, 3, 2), ConvBNAct(c1, c2, 3, 2))
        self.s4 = nn.Sequential(*[blk(c2, dw4) for _ in range(b2)])
        self.s8 = nn.Sequential(down(c2, c3, dw8), *[blk(c3, dw8) for _ in range(b3)])
        self.s16 = nn.Sequential(down(c3, c4, dw16), *[blk(c4, dw16) for _ in range(b4)])
        self.lat16 = ConvBNAct(c4, n4, 1)
        self.top16 = ConvBNAct(n4, n3, 1)
        self.lat8 = ConvBNAct(c3, n3, 1)
        self.fuse8 = fuse(n3, dwn)
        self.top8 = ConvBNAct(n3, n2, 1)
        self.lat4 = ConvBNAct(c2, n2, 1)
        self.fuse4 = fuse(n2, dwn)
        hc = p["head_conv"]
        self.heads = nn.ModuleList([Head(n2, nc, hc), Head(n3, nc, hc), Head(n4, nc, hc)])
        self._init_bias()

    def _init_bias(self):
        # Start with class probability ~0.01 (focal-loss style prior) and
        # box distances of ~1 stride.
        for h in self.heads:
            b = h.pred.bias.data
            b[:4] = -math.log(BOX_RANGE - 1.0)
            b[4:] = -math.log((1 - 0.01) / 0.01)

    def forward(self, x):
        """Returns a list of raw maps [B, 4+nc, H/s, W/s] for s in STRIDES."""
        x = self.stem(x)
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        p16 = self.lat16(f16)
        p8 = self.fuse8(self.lat8(f8) + F.interpolate(self.top16(p16), scale_factor=2.0, mode="nearest"))
        p4 = self.fuse4(self.lat4(f4) + F.interpolate(self.top8(p8), scale_factor=2.0, mode="nearest"))
        return [self.heads[0](p4), self.heads[1](p8), self.heads[2](p16)]


def ltrb_act(raw):
    """Maps raw box outputs to distances in strides, in (0, BOX_RANGE)."""
    return torch.sigmoid(raw) * BOX_RANGE


def make_anchors(sizes, strides=STRIDES):
    """Cell centres (input pixels) and strides for feature sizes [(h, w), ...].

    Returns centres [N, 2] (x, y) and strides [N] in the same order as the
    flattened, concatenated maps.
    """
    cs, ss = [], []
    for (h, w), s in zip(sizes, strides):
        ys = (torch.arange(h, dtype=torch.float32) + 0.5) * s
        xs = (torch.arange(w, dtype=torch.float32) + 0.5) * s
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        cs.append(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1))
        ss.append(torch.full((h * w,), float(s)))
    return torch.cat(cs, 0), torch.cat(ss, 0)


class Exported(nn.Module):
    """CamNet plus decoding to [1, 4+nc, N] for a fixed input size.

    Every shape is a Python int computed from (width, height); slices use
    constant indices (no .chunk()), as OpenCV 4.6's ONNX importer requires.
    """

    def __init__(self, net, width, height):
        super().__init__()
        self.net = net
        self.nc = net.nc
        self.sizes = [(height // s, width // s) for s in STRIDES]
        centres, strides = make_anchors(self.sizes)
        # [1, 2, N] constants: OpenCV 4.6 cannot broadcast a [1, 1, N]
        # constant over [1, 2, N] (shape_utils assertion), so strides repeat.
        self.register_buffer("centres", centres.t().unsqueeze(0).contiguous())
        self.register_buffer("strides", (strides * BOX_RANGE).view(1, 1, -1).repeat(1, 2, 1).contiguous())

    def forward(self, x):
        maps = self.net(x)
        flat = []
        for m, (h, w) in zip(maps, self.sizes):
            flat.append(m.reshape(1, 4 + self.nc, h * w))
        y = torch.sigmoid(torch.cat(flat, 2))
        # self.strides already holds stride * BOX_RANGE.
        lt = y[:, 0:2, :] * self.strides
        rb = y[:, 2:4, :] * self.strides
        x1y1 = self.centres - lt
        x2y2 = self.centres + rb
        cxcy = (x1y1 + x2y2) * 0.5
        wh = x2y2 - x1y1
        cls = y[:, 4 : 4 + self.nc, :]
        return torch.cat([cxcy, wh, cls], 1)


def flops(net, width, height):
    """Multiply-adds x2 of convolutions for one forward at (width, height)."""
    total = 0
    hooks = []

    def hook(m, inp, out):
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)  # per output value
        total += 2 * k * out.numel()

    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(hook))
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, height, width))
    for h in hooks:
        h.remove()
    return total
