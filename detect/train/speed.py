"""Measures single-thread OpenCV DNN forward time of CamNet presets.

Usage: python3 speed.py [--presets n,t] [--size 672x384] [--runs 20]
Exports each preset (random weights) to a temporary ONNX, checks it loads in
cv2.dnn, and prints ms per forward, GFLOPs and effective GFLOP/s on one thread.
"""

import argparse
import os
import tempfile
import time

import cv2
import numpy as np
import torch

from export import compare_cv2, export
from model import CamNet, PRESETS, flops


def time_onnx(path, w, h, runs, batch=1):
    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(path)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    blob = np.random.default_rng(0).random((batch, 3, h, w), dtype=np.float32)
    net.setInput(blob)
    net.forward()
    # Thread CPU time: with one OpenCV thread the forward runs on this
    # thread, and CPU time is far less disturbed than wall time when other
    # work shares the machine.
    ts = []
    for _ in range(runs):
        t = time.thread_time()
        net.setInput(blob)
        net.forward()
        ts.append(time.thread_time() - t)
    return float(np.median(ts)) * 1000, float(np.min(ts)) * 1000, net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--size", default="672x384")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        for p in a.presets.split(","):
            net = CamNet(4, p).eval()
            path = os.path.join(d, p + ".onnx")
            wrapped = export(net, w, h, path)
            dmax, dcls, shape = compare_cv2(wrapped, path, w, h)
            med, mn, cvnet = time_onnx(path, w, h, a.runs)
            g = flops(net, w, h) / 1e9
            print(f"{p}: {w}x{h} {g:.3f} GFLOPs  CPU median {med:.1f} ms  min {mn:.1f} ms  "
                  f"{g / (mn / 1000):.1f} GFLOP/s  {os.path.getsize(path)/1e6:.2f} MB  diff {dmax:.1e}/{dcls:.1e} out {shape}")
            if a.profile:
                total, timings = cvnet.getPerfProfile()
                names = cvnet.getLayerNames()
                f = cv2.getTickFrequency() / 1000
                rows = sorted(zip(timings.ravel().tolist(), names), reverse=True)[:25]
                for t, n in rows:
                    print(f"   {t / f:7.2f} ms  {n}")


if __name__ == "__main__":
    main()
