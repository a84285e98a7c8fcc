"""Turn a CamNet bundle's ONNX back into a trainable PyTorch CamNet.

The repository ships the trained detector as a bundle (model.onnx +
model.yaml), not as PyTorch checkpoints, so a fresh clone could only train from
random weights. This module reads the ONNX's convolutions into a CamNet of the
matching preset, so that train.py --init BUNDLE can fine-tune the shipped model
(on real photographs, say) instead of starting again.

Export folded each batch norm into its convolution (export.fold_bn), so the
batch-norm parameters are gone. They are rebuilt so that the network computes
exactly the bundle's function in eval mode, whatever statistics are chosen,
and nearly the same in train mode: for a convolution W (bias b folded in) whose
output has per-channel mean m and variance v on calibration images, the conv
keeps W and the batch norm gets running_mean m, running_var v, weight
sqrt(v + eps) and bias m + b. In eval mode that is W x + b exactly; in train
mode a batch normalised by its own statistics gives nearly the same when they
are close to m and v, which is why the calibration images should come from the
data the run trains on.

Usage (check that a bundle round-trips through PyTorch and OpenCV):
  python3 detect/train/unbundle.py models/camaudit-cams-v1
"""

import argparse
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import yaml
from onnx import numpy_helper

from model import PRESETS, CamNet, ConvBNAct, Exported


def bundle_paths(path):
    """(model.onnx, model.yaml or None) for a bundle folder or an ONNX file."""
    if os.path.isdir(path):
        onnx_path = os.path.join(path, "model.onnx")
        manifest = os.path.join(path, "model.yaml")
        return onnx_path, manifest if os.path.exists(manifest) else None
    return path, None


def onnx_convs(onnx_path):
    """The ONNX's Conv nodes in graph order, as (name, weight, bias, group, stride, pads)."""
    try:
        model = onnx.load(onnx_path)
    except Exception as e:  # onnx raises DecodeError, OSError, ...
        raise ValueError(f"{onnx_path}: not a readable ONNX model: {e}") from e
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    convs = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.input[1] not in inits:
            raise ValueError(f"{onnx_path}: Conv {node.name!r} takes its weight from a graph input, "
                             "not an initializer: not a CamNet export")
        w = inits[node.input[1]]
        b = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0], np.float32)
        convs.append((node.name, w, b, int(attrs.get("group", 1)), tuple(attrs.get("strides", (1, 1))),
                      tuple(attrs.get("pads", (0, 0, 0, 0)))))
    return convs


def conv_order(net, width, height):
    """net's Conv2d modules in the order a forward pass runs them."""
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o: order.append(m))
             for m in net.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, height, width))
    finally:
        for h in hooks:
            h.remove()
    return order


def matches(conv, w, group, stride, pads):
    """Whether a PyTorch conv has the ONNX conv's weight shape, groups, stride and padding."""
    ph, pw = conv.padding
    return (tuple(conv.weight.shape) == w.shape and conv.groups == group and tuple(conv.stride) == stride
            and pads == (ph, pw, ph, pw))


def read_manifest(manifest):
    """The bundle manifest as a dict ({} without one)."""
    if not manifest:
        return {}
    with open(manifest) as f:
        m = yaml.safe_load(f)
    if not isinstance(m, dict):
        raise ValueError(f"{manifest}: not a YAML mapping")
    return m


def from_bundle(path, preset=None):
    """Builds a CamNet whose eval-mode output equals the bundle's ONNX.

    path is a bundle folder (model.onnx + model.yaml) or an ONNX file; the
    preset is the manifest's training.preset, else the first of model.PRESETS
    whose convolutions match the ONNX's. Returns (net, info) with info holding
    the input size, labels, preset, and the manifest's name, version, sha256
    and epochs where it has them. The batch norms hold identity statistics
    until calibrate_bn is called; eval-mode output is already exact.
    """
    onnx_path, manifest = bundle_paths(path)
    if not os.path.exists(onnx_path):
        raise ValueError(f"{path}: no model.onnx")
    meta = read_manifest(manifest)
    inp = meta.get("input") or {}
    labels = meta.get("labels") or ["dome", "bullet", "ptz", "alpr"]
    training = meta.get("training") or {}
    width, height = int(inp.get("width", 672)), int(inp.get("height", 368))
    convs = onnx_convs(onnx_path)
    # The manifest's preset first, then the others (sorted is stable).
    tried = [preset] if preset else sorted(PRESETS, key=lambda p: p != training.get("preset"))
    why = []
    for p in tried:
        if p not in PRESETS:
            raise ValueError(f"{path}: unknown CamNet preset {p!r} (known: {', '.join(PRESETS)})")
        net = CamNet(len(labels), p)
        order = conv_order(net, width, height)
        if len(order) != len(convs):
            why.append(f"preset {p}: {len(order)} convolutions, the ONNX has {len(convs)}")
            continue
        bad = [(i, name) for i, (c, (name, w, _, g, s, pd)) in enumerate(zip(order, convs)) if not matches(c, w, g, s, pd)]
        if bad:
            i, name = bad[0]
            why.append(f"preset {p}: convolution {i} ({name}) has weight {convs[i][1].shape}, "
                       f"CamNet's {tuple(order[i].weight.shape)}")
            continue
        load_convs(net, order, convs)
        info = {"width": width, "height": height, "labels": list(labels), "preset": p, "onnx": onnx_path,
                "name": meta.get("name"), "version": meta.get("version"), "sha256": meta.get("sha256"),
                "epochs": training.get("epochs")}
        return net.eval(), info
    raise ValueError(f"{path}: not a CamNet bundle this code can read: " + "; ".join(why))


def owners(net):
    """Maps each conv of a ConvBNAct to its batch norm."""
    return {m.conv: m.bn for m in net.modules() if isinstance(m, ConvBNAct)}


def reset_bn(bn, bias):
    """Makes bn the identity plus bias in eval mode (mean 0, variance 1 - eps, weight 1)."""
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)
    bn.weight.fill_(1.0)
    bn.bias.copy_(bias)


@torch.no_grad()
def load_convs(net, order, convs):
    """Copies the folded weights into net: a conv followed by batch norm gets
    the weight, its batch norm the folded bias with identity statistics; a
    conv without one (the heads' predictions) gets weight and bias."""
    bns = owners(net)
    for conv, (_, w, b, _, _, _) in zip(order, convs):
        conv.weight.copy_(torch.from_numpy(np.array(w, dtype=np.float32)))
        bn = bns.get(conv)
        if bn is None:
            if conv.bias is None:
                raise ValueError("a convolution without batch norm or bias: not a CamNet")
            conv.bias.copy_(torch.from_numpy(np.array(b, dtype=np.float32)))
            continue
        reset_bn(bn, torch.from_numpy(np.array(b, dtype=np.float32)))


@torch.no_grad()
def calibrate_bn(net, batches):
    """Sets every batch norm's statistics from its convolution's outputs on
    batches (an iterable of [B, 3, H, W] tensors), keeping the eval-mode
    function unchanged (see the module doc): each batch norm's scale is first
    folded into its convolution. Returns the number of images."""
    bns = owners(net)
    for conv, bn in bns.items():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        reset_bn(bn, bn.bias - bn.running_mean * scale)
    sums = {c: [0.0, 0.0, 0] for c in bns}  # per channel: sum, sum of squares; values per channel

    def hook(conv, _inp, out):
        s = sums[conv]
        o = out.double()
        s[0] = s[0] + o.sum(dim=(0, 2, 3))
        s[1] = s[1] + (o * o).sum(dim=(0, 2, 3))
        s[2] += o.shape[0] * o.shape[2] * o.shape[3]

    hooks = [c.register_forward_hook(hook) for c in bns]
    n = 0
    try:
        net.eval()
        for x in batches:
            net(x.float())
            n += x.shape[0]
    finally:
        for h in hooks:
            h.remove()
    if n == 0:
        raise ValueError("calibrate_bn: no images")
    for conv, bn in bns.items():
        s, ss, k = sums[conv]
        mean = s / k
        var = (ss / k - mean * mean).clamp(min=0)
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_(var.float())
        bn.weight.copy_(torch.sqrt(var + bn.eps).float())
        bn.bias.add_(mean.float())
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="bundle folder (model.onnx + model.yaml) or ONNX file")
    ap.add_argument("--preset", help="CamNet preset (default: the manifest's, else the one that fits)")
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs score difference allowed")
    args = ap.parse_args()
    from export import compare_cv2

    try:
        net, info = from_bundle(args.bundle, args.preset)
    except ValueError as e:
        sys.exit(f"unbundle: {e}")
    wrapped = Exported(net, info["width"], info["height"]).eval()
    dmax, dcls, shape = compare_cv2(wrapped, info["onnx"], info["width"], info["height"])
    n = sum(p.numel() for p in net.parameters())
    print(f"unbundle: {args.bundle}: CamNet preset {info['preset']}, {n} parameters, input "
          f"{info['width']}x{info['height']}; PyTorch vs the bundle's ONNX in OpenCV: max abs diff "
          f"{dmax:.2e} (boxes, px) {dcls:.2e} (scores)")
    if dcls > args.tol or dmax > args.tol * 1000:
        sys.exit(f"unbundle: {args.bundle}: the rebuilt network disagrees with the ONNX (scores {dcls:g})")


if __name__ == "__main__":
    main()
