"""Export a CamNet checkpoint to ONNX that OpenCV 4.6 DNN (and gocv v0.31) loads.

Recipe (see docs/DESIGN.md, verified): torch 1.13, opset 12, fixed input size,
Python-int shapes, no .chunk(); batch norm folded into the convolutions; then
every Identity node whose input is an initializer is replaced by a copy of that
initializer (torch deduplicates equal weights into Identity nodes that OpenCV
4.6 rejects). After export the ONNX is run with cv2.dnn on one thread and
compared with PyTorch on the same input.
"""

import argparse
import copy
import io
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

from model import CamNet, Exported


def fold_bn(net):
    """Returns a copy of net with every ConvBNAct's BatchNorm folded into its conv."""
    net = copy.deepcopy(net).eval()
    for m in net.modules():
        conv = getattr(m, "conv", None)
        bn = getattr(m, "bn", None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            w = conv.weight.data
            std = torch.sqrt(bn.running_var + bn.eps)
            scale = bn.weight.data / std
            fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size,
                              conv.stride, conv.padding, groups=conv.groups, bias=True)
            fused.weight.data = w * scale.view(-1, 1, 1, 1)
            b = conv.bias.data if conv.bias is not None else torch.zeros_like(bn.running_mean)
            fused.bias.data = (b - bn.running_mean) * scale + bn.bias.data
            m.conv = fused
            m.bn = nn.Identity()
    return net


def fix_identity_initializers(model):
    """Replaces Identity nodes fed by an initializer with a copy of it (OpenCV 4.6)."""
    inits = {i.name: i for i in model.graph.initializer}
    keep = []
    added = 0
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            t = numpy_helper.to_array(inits[node.input[0]])
            model.graph.initializer.append(numpy_helper.from_array(t.copy(), node.output[0]))
            added += 1
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)
    return added


def save_onnx(module, example, path, input_name, output_name):
    """Exports module (in eval mode, BN already folded) with the recipe OpenCV 4.6 needs and saves it at path."""
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(module, example, buf, opset_version=12, input_names=[input_name],
                          output_names=[output_name], do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    fix_identity_initializers(model)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def export(net, width, height, path):
    """Writes net (a CamNet) as an ONNX file at path; returns the wrapped module."""
    wrapped = Exported(fold_bn(net), width, height).eval()
    save_onnx(wrapped, torch.zeros(1, 3, height, width), path, "images", "output0")
    return wrapped


def compare_cv2(wrapped, path, width, height, seed=0, image=None):
    """Runs the ONNX at path with cv2.dnn (1 thread) and wrapped with torch.

    Returns (max abs diff of all outputs, max abs diff of class scores, output shape).
    """
    import cv2

    cv2.setNumThreads(1)
    if image is None:
        rng = np.random.default_rng(seed)
        blob = rng.random((1, 3, height, width), dtype=np.float32)
    else:
        blob = image
    net = cv2.dnn.readNetFromONNX(path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    net.setInput(blob)
    out_cv = net.forward()
    with torch.no_grad():
        out_pt = wrapped(torch.from_numpy(blob)).numpy()
    if out_cv.shape != out_pt.shape:
        raise ValueError(f"OpenCV output shape {out_cv.shape} != PyTorch {out_pt.shape}")
    d = np.abs(out_cv - out_pt)
    return float(d.max()), float(d[:, 4:].max()), out_cv.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ckpt", required=True, help="checkpoint from train.py (uses EMA weights)")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    ap.add_argument("--width", type=int, default=0, help="input width (default: checkpoint's)")
    ap.add_argument("--height", type=int, default=0, help="input height (default: checkpoint's)")
    ap.add_argument("--tol", type=float, default=1e-3, help="max abs diff allowed for scores")
    args = ap.parse_args()
    ck = torch.load(args.ckpt, map_location="cpu")
    net = CamNet(ck["nc"], ck["preset"])
    net.load_state_dict(ck["ema"])
    w = args.width or ck["export_width"]
    h = args.height or ck["export_height"]
    wrapped = export(net, w, h, args.out)
    dmax, dcls, shape = compare_cv2(wrapped, args.out, w, h)
    print(f"export: {args.out} input {w}x{h} output {list(shape)}; cv2.dnn vs torch max abs diff "
          f"{dmax:.2e} (boxes, px) {dcls:.2e} (scores)", file=sys.stderr)
    if dcls > args.tol or dmax > args.tol * 1000:
        sys.exit(f"export: OpenCV and PyTorch disagree: max diff {dmax:g}, scores {dcls:g}")


if __name__ == "__main__":
    main()
