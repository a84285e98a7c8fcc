"""Train the bundle's verifier: a second look at each detection.

The detector (CamNet, 59 k parameters, boxes of 6-20 px) is fooled by
look-alikes: lamp heads, wall boxes, globe lights on arms. The verifier is a
small classifier that sees each detection again as a 32x32 crop with its
surroundings (the box's longer side times CONTEXT, at least MIN_SIDE frame
pixels) and says background or which camera type. A detection whose camera
probability (1 - background) is under the verifier's threshold is dropped.

Its training data is the detector's own mistakes: `camaudit eval detect
--errors` on the training images (and walk frames) at a low threshold lists
every false detection; those of reason `background` are the negatives, the
labelled cameras (boxes jittered like a detector's) the positives. Nothing of
the held-out set is used.

    python3 detect/train/verify.py --bundle models/camaudit-cams-v1 \\
        --data build/dataset --errors build/verify/mine-dataset.jsonl \\
        --data build/walks --errors build/verify/mine-walks.jsonl \\
        --out build/verify

writes OUT/verifier.onnx, OUT/verifier.json (threshold, validation figures)
and, with --install, copies the ONNX into the bundle and adds the `verifier:`
block to its model.yaml. The crop is the one detect/verify.go makes (the same
rectangles, the same grey 114 outside the frame, bilinear resize);
test_pipeline.py checks the rectangles against cases the Go test shares.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn

from data import read_labels
from export import fold_bn, save_onnx
from model import ConvBNAct

SIZE = 32
CONTEXT = 2.0
MIN_SIDE = 12
PAD = 114
LABELS = ["dome", "bullet", "ptz", "alpr"]


def crop_rects(box, width, height, size=SIZE, context=CONTEXT, min_side=MIN_SIDE):
    """Returns the frame rectangle a detection's crop reads and where it lands in the size x size input.

    The crop is a square of side max(box side) * context (at least min_side)
    centred on the box, clipped to the frame; the clipped part is mapped to
    the matching part of the input (the rest stays grey). Rectangles are
    (x0, y0, x1, y1) integers, half-open; None when nothing of the crop is in
    the frame. detect/verify.go's cropRects computes the same.
    """
    x0, y0, x1, y1 = box
    side = max(max(x1 - x0, y1 - y0) * context, min_side)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = cx - side / 2, cy - side / 2
    sx0, sy0 = max(0, int(np.floor(left))), max(0, int(np.floor(top)))
    sx1, sy1 = min(width, int(np.ceil(left + side))), min(height, int(np.ceil(top + side)))
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    k = size / side
    dx0, dy0 = int(round((sx0 - left) * k)), int(round((sy0 - top) * k))
    dx1, dy1 = int(round((sx1 - left) * k)), int(round((sy1 - top) * k))
    dx0, dy0 = min(max(dx0, 0), size - 1), min(max(dy0, 0), size - 1)
    dx1, dy1 = max(min(dx1, size), dx0 + 1), max(min(dy1, size), dy0 + 1)
    return (sx0, sy0, sx1, sy1), (dx0, dy0, dx1, dy1)


def crop(img, box, size=SIZE):
    """The verifier's input for one box of a BGR image: size x size BGR uint8."""
    out = np.full((size, size, 3), PAD, np.uint8)
    r = crop_rects(box, img.shape[1], img.shape[0], size)
    if r is None:
        return out
    (sx0, sy0, sx1, sy1), (dx0, dy0, dx1, dy1) = r
    out[dy0:dy1, dx0:dx1] = cv2.resize(img[sy0:sy1, sx0:sx1], (dx1 - dx0, dy1 - dy0),
                                       interpolation=cv2.INTER_LINEAR)
    return out


def jitter(box, rng):
    """A labelled box moved and resized the way a detector's box strays."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 + rng.uniform(-0.15, 0.15) * w
    cy = (y0 + y1) / 2 + rng.uniform(-0.15, 0.15) * h
    s = rng.uniform(0.85, 1.2)
    return cx - s * w / 2, cy - s * h / 2, cx + s * w / 2, cy + s * h / 2


def gather(root, split, errors, rng, log):
    """Crops of one data set: (images, classes 0=background, 1..4=types, image index)."""
    neg = {}
    with open(errors) as f:
        for n, line in enumerate(f, 1):
            try:
                e = json.loads(line)
            except ValueError as err:
                raise ValueError(f"{errors}:{n}: not JSON: {err}") from None
            if e.get("kind") == "false" and e.get("reason") == "background":
                neg.setdefault(os.path.abspath(e["image"]), []).append(e["box"])
    idir = os.path.join(root, "images", split)
    names = sorted(os.listdir(idir))
    X, Y, G = [], [], []
    t0 = time.time()
    for i, name in enumerate(names):
        path = os.path.join(idir, name)
        img = cv2.imread(path)
        if img is None:
            raise ValueError(f"{path}: not an image")
        h, w = img.shape[:2]
        lab = read_labels(os.path.join(root, "labels", split, os.path.splitext(name)[0] + ".txt"), w, h, 4)
        for r in lab:
            X.append(crop(img, jitter(r[1:], rng)))
            Y.append(int(r[0]) + 1)
            G.append(i)
        for b in neg.get(os.path.abspath(path), []):
            X.append(crop(img, b))
            Y.append(0)
            G.append(i)
        if (i + 1) % 2000 == 0 or i + 1 == len(names):
            log(f"verify: {root}: {i + 1}/{len(names)} images, {len(X)} crops ({time.time() - t0:.0f} s)")
    return X, Y, G


class Verifier(nn.Module):
    """Six 3x3 conv layers (16-128 channels, three stride-2) on a 32x32 crop, global mean, 5 logits."""

    def __init__(self, c=16):
        super().__init__()
        self.f = nn.Sequential(ConvBNAct(3, c), ConvBNAct(c, 2 * c, s=2), ConvBNAct(2 * c, 2 * c),
                               ConvBNAct(2 * c, 4 * c, s=2), ConvBNAct(4 * c, 4 * c),
                               ConvBNAct(4 * c, 8 * c, s=2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * c, 1 + len(LABELS))

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.f(x)), 1))


class Exported(nn.Module):
    """The verifier as shipped: probabilities (background, then the labels), shape [1, 5]."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.softmax(self.net(x), 1)


def to_tensor(X):
    """BGR uint8 crops [N, S, S, 3] to RGB float [N, 3, S, S] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(X[..., ::-1])).permute(0, 3, 1, 2).float() / 255


def camera_prob(net, x, batch=2048):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(torch.softmax(net(x[i:i + batch]), 1))
    p = torch.cat(out)
    return 1 - p[:, 0], p


def export(net, path):
    """Writes the verifier as ONNX (opset 12, BN folded, fixed 1x3x32x32) and checks it with cv2.dnn."""
    wrapped = Exported(fold_bn(net)).eval()
    save_onnx(wrapped, torch.zeros(1, 3, SIZE, SIZE), path, "crop", "probs")
    cv2.setNumThreads(1)
    cvnet = cv2.dnn.readNetFromONNX(path)
    blob = np.random.default_rng(0).random((1, 3, SIZE, SIZE), dtype=np.float32)
    cvnet.setInput(blob)
    got = cvnet.forward()
    with torch.no_grad():
        want = wrapped(torch.from_numpy(blob)).numpy()
    d = float(np.abs(got - want).max())
    if got.shape != want.shape or d > 1e-4:
        raise ValueError(f"{path}: OpenCV and PyTorch disagree (shape {got.shape} vs {want.shape}, diff {d:g})")
    return d


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def install(bundle, onnx_path, threshold, on=None, off=None):
    """Copies the verifier into the bundle and writes the verifier block of its model.yaml.

    With on (`camaudit eval detect --json` of the held-out set with the
    verifier) the manifest's metrics gain verified_* figures, with off (the
    same without it) detector_* ones: AP50, AP50 of any class, precision,
    recall and recall under 16 px, each with its interval (_low, _high)
    where the report has one; recipe.py check compares them.
    """
    import yaml
    from bundle import figures
    from recipe import FIGURES

    manifest_path = os.path.join(bundle, "model.yaml")
    with open(manifest_path) as f:
        text = f.read()
    head = [l for l in text.splitlines(keepends=True) if l.startswith("#")]
    m = yaml.safe_load(text)
    if m.get("labels") != LABELS:
        raise ValueError(f"{manifest_path}: labels {m.get('labels')} are not the verifier's {LABELS}")
    dst = os.path.join(bundle, "verifier.onnx")
    shutil.copyfile(onnx_path, dst)
    m["verifier"] = {"file": "verifier.onnx", "sha256": sha256(dst), "size": SIZE, "context": CONTEXT,
                     "min_side": MIN_SIDE, "labels": ["background"] + LABELS, "threshold": round(threshold, 3)}
    metrics = m.setdefault("metrics", {})
    for ev, prefix in ((on, "verified_"), (off, "detector_")):
        if ev:
            # A new report replaces every figure of the group, so that no
            # interval of an earlier evaluation is left beside it.
            for k in [k for k in metrics if k.startswith(prefix)]:
                if k[len(prefix):].removesuffix("_low").removesuffix("_high") in FIGURES:
                    del metrics[k]
            metrics.update({k: v for k, v in figures(ev, prefix).items() if v is not None})
    with open(manifest_path, "w") as f:
        f.writelines(head)
        yaml.safe_dump(m, f, sort_keys=False, width=120, default_flow_style=None)


def bench_ms(path):
    """The best ms/detection of BenchmarkBundleVerify in a `go test -bench` output file, or None."""
    import re
    with open(path) as f:
        found = re.findall(r"^BenchmarkBundleVerify\S*\s+\d+\s+.*?([\d.]+) ms/detection", f.read(), re.M)
    return min(float(v) for v in found) if found else None


def card_section(report, threshold, on=None, off=None, ms=None):
    """The model card's "Verifier" section: what it is, what it was trained on, and held-out figures with and without it."""
    lines = ["## Verifier", "",
             "The bundle's second model, `verifier.onnx` (detect/train/verify.py, "
             f"{report.get('params', 0) / 1e3:.0f} k parameters): each detection is looked at again as a "
             f"{SIZE}×{SIZE} crop of its surroundings ({CONTEXT:g} times the box's longer side, at least {MIN_SIDE} px) "
             "and dropped when the verifier's camera probability (1 − background) is under its threshold, "
             f"**{threshold:g}**. It costs one small forward per detection, not per tile"
             + (f" ({ms:.2f} ms on one core of this machine, `BenchmarkBundleVerify`)" if ms else "") + ". "
             f"sha256 of verifier.onnx: `{report.get('sha256', '')}`. "
             "`--verify off` (and `model.verify: false` in the device config) turns it off.", "",
             f"Trained ({report.get('epochs')} epochs, seed {report.get('seed')}, "
             f"{report.get('train_seconds', 0) / 60:.0f} min on this machine) on {report.get('train_crops')} crops: "
             "the labelled cameras of the training images and walk frames (boxes jittered as a detector's stray), "
             "and the detector's own false detections of reason `background` on the same images "
             "(`camaudit eval detect --threshold 0.1 --errors`), never the held-out ones. "
             f"On its validation images (one in ten, {report.get('validation_cameras')} cameras and "
             f"{report.get('validation_background')} background detections) the threshold keeps "
             f"{report.get('keep', 0):.0%} of the cameras and rejects {report.get('background_rejected', 0):.0%} "
             f"of the background detections; it names the right type of {report.get('type_accuracy', 0):.0%} of the cameras "
             "(the type stays the detector's).", ""]
    if on and off:
        from bundle import cell

        def row(name, f):
            return f"| {name} | {f(off)} | {f(on)} |"
        lines += ["Held-out set at the default threshold, without and with the verifier "
                  "(`camaudit eval detect --verify off|on`):", "",
                  "| measure | detector alone | with the verifier |", "|---|---:|---:|",
                  row("precision", lambda e: cell(e, "precision")),
                  row("recall", lambda e: cell(e, "recall")),
                  row("recall < 16 px", lambda e: cell(e, "recall_small")),
                  row("AP50", lambda e: cell(e, "ap50")),
                  row("AP50, any class", lambda e: cell(e, "agnostic_ap50")),
                  row("detection time per image (ms)", lambda e: f"{e['ms_per_image']:.1f}"),
                  row("false detections on background", lambda e: str(next(
                      (r["count"] for r in e.get("false") or [] if r["reason"] == "background"), "–")))]
        if on.get("intervals"):
            lines += ["", "In brackets: 95 % intervals over the held-out images, as under Metrics."]
    return "\n".join(lines).rstrip("\n") + "\n"


def add_card_section(card_path, section):
    """Puts section into the model card, replacing an earlier Verifier section, before "## Speed" (else at the end)."""
    with open(card_path) as f:
        text = f.read()
    start = text.find("\n## Verifier\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end:] if end >= 0 else "\n")
    at = text.find("\n## Speed\n")
    if at < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        text = text[:at + 1] + section + text[at:]
    with open(card_path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", default=[], help="YOLO data set folder (repeat)")
    ap.add_argument("--errors", action="append", default=[],
                    help="`camaudit eval detect --errors` file of the --data of the same position")
    ap.add_argument("--from", dest="trained", metavar="DIR",
                    help="install the verifier a run wrote to DIR (verifier.onnx, verifier.json) instead of training one")
    ap.add_argument("--split", default="train")
    ap.add_argument("--out", help="folder for verifier.onnx and verifier.json (required to train)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--keep", type=float, default=0.98,
                    help="share of validation cameras the threshold keeps (default 0.98)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--bundle", help="with --install: the bundle to add the verifier to")
    ap.add_argument("--install", action="store_true",
                    help="copy verifier.onnx into --bundle, add the verifier block to its model.yaml and a section to its MODEL_CARD.md")
    ap.add_argument("--eval-on", help="with --install: `camaudit eval detect --json` of the held-out set with the verifier")
    ap.add_argument("--eval-off", help="with --install: the same with --verify off")
    ap.add_argument("--bench", help="with --install: `go test -bench BenchmarkBundle` output with BenchmarkBundleVerify")
    args = ap.parse_args()
    if args.install and not args.bundle:
        sys.exit("verify: --install needs --bundle")
    if args.trained:
        if not args.install:
            sys.exit("verify: --from installs a trained verifier: give --install --bundle")
        with open(os.path.join(args.trained, "verifier.json")) as f:
            report = json.load(f)
        install_all(args, os.path.join(args.trained, "verifier.onnx"), report)
        return
    if not args.data or len(args.data) != len(args.errors) or not args.out:
        sys.exit("verify: give --out, --data and one --errors per --data")

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    X, Y, G = [], [], []
    for k, (root, errs) in enumerate(zip(args.data, args.errors)):
        x, y, g = gather(root, args.split, errs, rng, log)
        X += x
        Y += y
        G += [(k, i) for i in g]
    X, Y = np.stack(X), np.array(Y)
    # One image in ten is validation (all its crops), chosen by a hash of its index.
    val = np.array([hash((k, i)) % 10 == 0 for k, i in G])
    if (Y[~val] == 0).sum() == 0 or (Y[val] > 0).sum() == 0:
        sys.exit("verify: the errors files list no background false detections, or there are no cameras")
    xt, yt = to_tensor(X[~val]), torch.from_numpy(Y[~val])
    xv, yv = to_tensor(X[val]), torch.from_numpy(Y[val])
    log(f"verify: {len(xt)} training crops ({int((yt == 0).sum())} background), "
        f"{len(xv)} validation ({int((yv == 0).sum())} background)")

    net = Verifier()
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    steps = args.epochs * ((len(xt) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    t0 = time.time()
    for ep in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), 128):
            idx = perm[i:i + 128]
            x = xt[idx]
            if random.random() < 0.5:
                x = x.flip(3)
            x = (x * (0.7 + 0.6 * torch.rand(len(x), 1, 1, 1))).clamp(0, 1)
            loss = nn.functional.cross_entropy(net(x), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        cam, p = camera_prob(net, xv)
        thr = float(torch.quantile(cam[yv > 0], 1 - args.keep))
        rej = float((cam[yv == 0] < thr).float().mean())
        log(f"verify: epoch {ep + 1}/{args.epochs} loss {total / len(xt):.3f}; keeping {args.keep:.0%} of "
            f"validation cameras rejects {rej:.0%} of background ({time.time() - t0:.0f} s)")
    cam, p = camera_prob(net, xv)
    thr = float(torch.quantile(cam[yv > 0], 1 - args.keep))
    type_acc = float((p[yv > 0, 1:].argmax(1) + 1 == yv[yv > 0]).float().mean())
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "verifier.onnx")
    diff = export(net, path)
    report = {"threshold": round(thr, 3), "keep": args.keep,
              "validation_cameras": int((yv > 0).sum()), "validation_background": int((yv == 0).sum()),
              "background_rejected": round(float((cam[yv == 0] < thr).float().mean()), 4),
              "type_accuracy": round(type_acc, 4), "epochs": args.epochs, "seed": args.seed,
              "train_crops": len(xt), "train_seconds": round(time.time() - t0, 1),
              "params": sum(q.numel() for q in net.parameters()), "cv2_max_diff": diff,
              "data": args.data, "errors": args.errors}
    with open(os.path.join(args.out, "verifier.json"), "w") as f:
        json.dump(report, f, indent=1)
    log(f"verify: wrote {path}: threshold {thr:.3f} keeps {args.keep:.0%} of validation cameras and rejects "
        f"{report['background_rejected']:.0%} of the detector's background false detections")
    if args.install:
        install_all(args, path, report)


def install_all(args, onnx_path, report):
    """Installs the verifier into args.bundle: file, manifest block and, when the bundle has one, the card's section."""
    evs = []
    for p in (args.eval_on, args.eval_off):
        evs.append(None)
        if p:
            with open(p) as f:
                evs[-1] = json.load(f)
    install(args.bundle, onnx_path, report["threshold"], *evs)
    report = dict(report, sha256=sha256(onnx_path))
    card = os.path.join(args.bundle, "MODEL_CARD.md")
    if os.path.exists(card):
        ms = bench_ms(args.bench) if args.bench else None
        add_card_section(card, card_section(report, report["threshold"], *evs, ms=ms))
    print(f"verify: added the verifier to {args.bundle} (model.yaml{', MODEL_CARD.md' if os.path.exists(card) else ''})",
          file=sys.stderr)


if __name__ == "__main__":
    main()
