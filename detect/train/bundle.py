"""Package an exported CamNet as a model bundle (contracts.md A).

Writes OUT/model.onnx, OUT/model.yaml (with the ONNX's sha256, the training
summary and the held-out metrics), OUT/reference.json (PyTorch's output on a
fixed synthetic input, so any runtime can be checked against the framework
the model was trained in; detect/train's Go test does) and OUT/MODEL_CARD.md
(rendered from detect/train/MODEL_CARD.tmpl.md with the measured figures).

Usage:
  python3 bundle.py --ckpt build/model/final.pt --onnx build/model/model.onnx \
      --eval build/model/holdout.json --speed build/model/speed.json --out DIR
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import yaml

import recipe
from export import fold_bn
from model import PRESETS, CamNet, Exported, flops

NAME = "camaudit-cams-v1"
VERSION = "1.0.0"
LABELS = ["dome", "bullet", "ptz", "alpr"]
HERE = os.path.dirname(os.path.abspath(__file__))


def reference_input(width, height):
    """The fixed test input: smooth colour waves plus dark discs, NCHW float32.

    Defined with float64 maths so Go reproduces it bit for bit before the
    float32 conversion (see detect/train/bundle_test.go).
    """
    x = np.arange(width, dtype=np.float64)[None, :]
    y = np.arange(height, dtype=np.float64)[:, None]
    blob = np.zeros((1, 3, height, width), np.float64)
    for c in range(3):
        blob[0, c] = 0.5 + 0.3 * np.sin(0.031 * (c + 1) * x + 0.017 * y) * np.cos(0.023 * y - 0.011 * c * x)
    # Dark discs of 6..40 px radius on a lighter band: camera-ish blobs.
    for k in range(12):
        cx = (k * 97 + 31) % width
        cy = (k * 53 + 17) % height
        r = 3 + (k * 7) % 20
        d2 = (x - cx) ** 2 + (y - cy) ** 2
        for c in range(3):
            blob[0, c][d2 <= r * r] = 0.1 + 0.02 * c
    return blob.astype(np.float32)


def reference(wrapped, width, height, top=100, every=97):
    """PyTorch's output on reference_input: the top anchors by score and a strided sample."""
    blob = reference_input(width, height)
    with torch.no_grad():
        out = wrapped(torch.from_numpy(blob))[0].numpy()  # [4+nc, N]
    n = out.shape[1]
    best = out[4:].max(0)
    idx = sorted(set(np.argsort(-best, kind="stable")[:top].tolist()) | set(range(0, n, every)))
    return {
        "about": "PyTorch output of model.onnx's source on a fixed synthetic input "
                 "(detect/train/bundle.py reference_input); rows are anchors, values cx, cy, w, h, scores",
        "input": {"width": width, "height": height, "generator": "camaudit-reference-v1"},
        "shape": [1, int(out.shape[0]), int(n)],
        "anchors": idx,
        "values": [[round(float(v), 6) for v in out[:, i]] for i in idx],
    }


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def num(v, digits=4):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return round(float(v), digits)


def fmt(v):
    """Three decimals of the 4-decimal value model.yaml stores (so card and manifest agree)."""
    v = num(v)
    return "–" if v is None else f"{v:.3f}"


def sfmt(v, digits):
    return "(not measured)" if v is None else f"{v:.{digits}f}"


def figure(ev, key):
    """One of recipe.FIGURES (the figures with an interval) from a `camaudit eval detect --json` report."""
    return num(ev["sizes"][0]["recall"]) if key == "recall_small" else num(ev.get(key))


def interval(ev, key):
    """The (low, high) 95 % interval of one of recipe.FIGURES in a
    `camaudit eval detect --json` report, or None (an older report, or no
    denominator)."""
    iv = ev.get("intervals") or {}
    v = (iv.get("size_recall") or [None])[0] if key == "recall_small" else iv.get(key)
    if not v or v[0] is None or v[1] is None:
        return None
    return num(v[0]), num(v[1])


def figures(ev, prefix=""):
    """model.yaml metrics PREFIX+KEY for recipe.FIGURES, and
    PREFIX+KEY_low, PREFIX+KEY_high for their intervals where the report has them."""
    m = {}
    for k in recipe.FIGURES:
        m[prefix + k] = figure(ev, k)
        iv = interval(ev, k)
        if iv:
            m[f"{prefix}{k}_low"], m[f"{prefix}{k}_high"] = iv
    return m


def span(iv):
    """An interval as the card writes it after a figure: " (0.517-0.555)"."""
    return f" ({fmt(iv[0])}-{fmt(iv[1])})"


def cell(ev, key, bold=False):
    """A card cell: the figure with its interval, "0.537 (0.517-0.555)"."""
    v = figure(ev, key)
    text = "–" if v is None else f"{v:.3f}"
    if bold:
        text = f"**{text}**"
    iv = interval(ev, key)
    return text + span(iv) if iv else text


def intervals_note(ev):
    """The sentence under a table with intervals, or ""."""
    iv = ev.get("intervals")
    if not iv:
        return ""
    return (f"In brackets: {iv['level'] * 100:g} % intervals over the images ({iv['resamples']} bootstrap draws, "
            "`camaudit eval detect`): how far a figure could move on another set of as many images like these. "
            "A model trained again whose figures fall inside them matches this one within the noise of the "
            "held-out set (`python3 detect/train/recipe.py check`).")


def eval_metrics(ev):
    """model.yaml metrics from a `camaudit eval detect --json` report."""
    m = figures(ev)
    m.update({"f1": num(ev["f1"]), "agnostic_recall": num(ev["agnostic_recall"])})
    for s, key in zip(ev["sizes"], ("small", "medium", "large")):
        m[f"recall_{key}"] = num(s["recall"])
        m[f"ap50_{key}"] = num(s["ap50"])
    for c in ev["classes"]:
        m[f"ap50_{c['name']}"] = num(c["ap50"])
    return m


def architecture(preset):
    """One paragraph describing CamNet's preset for the model card."""
    p = PRESETS[preset]
    c1, c2, c3, c4 = p["ch"]
    b2, b3, b4 = p["blocks"]
    dw = any(p.get("dw", ()))
    if p.get("stem", "conv2") == "patch4":
        stem = f"a 4×4 stride-4 \"patchify\" convolution to {c2} channels"
    else:
        stem = f"two 3×3 stride-2 convolutions ({c1}, {c2} channels)"
    block = "depthwise-separable residual blocks (3×3 depthwise + 1×1)" if dw else "residual blocks of 3×3 convolutions"
    return (f"{stem}, then {block} at strides 4, 8 and 16 ({b2}/{b3}/{b4} blocks, {c2}/{c3}/{c4} "
            f"channels), a top-down feature pyramid ({'/'.join(str(n) for n in p['neck'])} channels)")


# make model's learning rate and crop size (make_model.sh's MODEL_LR and
# MODEL_CROP defaults): what a checkpoint's first run used when it predates
# train.py keeping the first run's settings.
MAKE_MODEL_LR, MAKE_MODEL_CROP = 0.004, 320


def first_settings(ck):
    """The learning rate and crop size of the checkpoint's first run, for the
    card's training line; continued runs that changed them say so in
    schedule()."""
    first = ck.get("first_run")
    if first:
        return {"lr": first.get("lr", MAKE_MODEL_LR), "crop": first.get("crop", MAKE_MODEL_CROP)}
    if ck.get("resumes"):
        return {"lr": MAKE_MODEL_LR, "crop": MAKE_MODEL_CROP}
    targs = ck.get("args", {})
    return {"lr": targs.get("lr", MAKE_MODEL_LR), "crop": targs.get("size", MAKE_MODEL_CROP)}


def init_of(ck):
    """What the checkpoint records of the bundle its first run started from
    (train.py --init), or None for a run from random weights."""
    return (ck.get("first_run") or {}).get("init")


def init_text(ck):
    """The card's sentence on the bundle a fine-tuning run started from
    (train.py --init, make model's MODEL_INIT); "" for a run from random weights."""
    init = init_of(ck)
    if not init:
        return ""
    what = " ".join(str(init[k]) for k in ("name", "version") if init.get(k)) or "a bundle"
    epochs = f", itself trained {init['epochs']} epochs" if init.get("epochs") else ""
    digest = f", ONNX sha256 {init['sha256'][:12]}…" if init.get("sha256") else ""
    src = init.get("bundle", "?")
    return (f" Training started from the weights of {what} (`{src}`{digest}{epochs}; "
            f"`MODEL_INIT={src} make model`, i.e. `train.py --init`), not from random ones: the epochs "
            f"above are the fine-tuning's.")


def recipe_text(ck, path):
    """The card's sentence for a checkpoint trained by make model's recipe
    (detect/train/recipe.py) at path: the stages it ran and where; "" when
    the checkpoint does not follow that recipe (schedule() then lists its
    runs one by one)."""
    try:
        stages = recipe.read(path)
        recipe.next_stage(stages, ck)
    except recipe.RecipeError:
        return ""
    devices = {r["epoch"]: r.get("device", "cpu") for r in ck.get("resumes") or []}
    devices[0] = (ck.get("first_run") or {}).get("device", "cpu")
    parts, start = [], 0
    for s in stages:
        if start >= ck["epoch"]:
            break
        end = min(s.end, ck["epoch"])
        dev = devices.get(start, "cpu")
        on = f", on an {dev}" if dev != "cpu" else ""
        upto = f" (of {s.end})" if end < s.end else ""
        parts.append(f"{start + 1}-{end}{upto} at {s.lr:g} on `build/{s.data}`{on}")
        start = s.end
    return (f" Trained by `make model` following its recipe (`{path}`), one stage after another, each "
            f"resuming the last with the cosine schedule stretched to its end (epochs, base learning "
            f"rate, data): {'; '.join(parts)}.")


def schedule(ck, recipe_path=""):
    """How the epochs were run, for the model card: make model's recipe
    (recipe_path, when the checkpoint follows it), one `make model`, or a
    run continued with more epochs (make model resumes from last.pt), on this
    machine's CPU or on a GPU (train.py --device cuda), with the settings a
    run changed (MODEL_LR, MODEL_CROP)."""
    res = ck.get("resumes") or []
    start = init_text(ck)
    if recipe_path and not start:
        text = recipe_text(ck, recipe_path)
        if text:
            return text
    if not res:
        return start
    base = first_settings(ck)

    # Runs recorded before train.py kept the data set's name used build/dataset.
    data = "dataset"

    def run(r):
        nonlocal data
        dev = r.get("device", "cpu")
        on = ""
        if r.get("data", "dataset") != data:
            data = r.get("data", "dataset")
            on = f", training on `build/{data}` from there on"
        env = ""
        if r.get("lr", base["lr"]) != base["lr"]:
            env += f"MODEL_LR={r['lr']:g} "
        if r.get("crop", base["crop"]) != base["crop"]:
            env += f"MODEL_CROP={r['crop']} "
        budget = f"MODEL_TIME_BUDGET={r['time_budget_min']:g} " if r.get("time_budget_min") else ""
        if dev == "cpu":
            if budget:
                planned = f"MODEL_EPOCHS={r['planned']} " if r.get("planned") else ""
                return (f"`{env}{planned}{budget}make model` from epoch {r['epoch']}, which the time budget "
                        f"ended at epoch {r['epochs']}{on}")
            return f"`{env}MODEL_EPOCHS={r['epochs']} make model` from epoch {r['epoch']}{on}"
        return (f"epochs {r['epoch'] + 1}-{r['epochs']} on an {dev} (PyTorch {r.get('torch', '?')}; "
                f"`{env}MODEL_DEVICE=cuda {budget}make model`){on}")

    first = res[0]["epoch"]
    steps = "; then ".join(run(r) for r in res)
    return start + (f" This bundle was trained in {len(res) + 1} runs: `make model` with {first} epochs, then "
            f"{steps}. Each run resumes from `build/model/last.pt`, and the cosine schedule is "
            f"stretched to the new number of epochs from that point (a time budget sets that number "
            f"early in the run).")


def hardware(hist):
    """Where the epochs ran and how long they took, from the per-epoch history
    (epochs recorded before devices were recorded ran on the CPU)."""
    spans = []  # [device, first epoch, last epoch, seconds]
    for r in hist:
        dev = r.get("device", "cpu")
        if spans and spans[-1][0] == dev:
            spans[-1][2] = r["epoch"]
            spans[-1][3] += r.get("seconds", 0)
        else:
            spans.append([dev, r["epoch"], r["epoch"], r.get("seconds", 0)])
    parts = []
    for dev, a, b, sec in spans:
        where = "this 2-core machine's CPU" if dev == "cpu" else f"an {dev} GPU"
        took = f"{sec / 3600:.2f} h" if sec >= 3600 else f"{sec / 60:.0f} min"
        parts.append(f"epochs {a}-{b} on {where} ({took})")
    return "; ".join(parts)


def targets(ev, speed, hist):
    """The issue's targets against what this run reached, and what would close
    any gap, for the model card."""
    ap = num(ev["ap50"])
    small = num(ev["sizes"][0]["recall"])
    fps = speed.get("fps_1080p")
    rows = [("AP50, all classes, held-out set", "≥ 0.90", cell(ev, "ap50"), ap is not None and ap >= 0.90),
            ("recall of cameras < 16 px", "≥ 0.80", cell(ev, "recall_small"), small is not None and small >= 0.80),
            ("1920×1080 frames/s on one core, tiled", "≥ 10", sfmt(fps, 1), fps is not None and fps >= 10)]
    vh = [r for r in hist if "val" in r and r["val"].get("ap50") is not None]
    # Runs validate on the first val images every few epochs and on the whole
    # split at their end; only values on the same images are compared.
    whole = max((r["val"].get("images") or 0 for r in vh), default=0)
    ends = [r["val"]["ap50"] for r in vh if r["val"].get("images") == whole]
    rising = len(ends) >= 2 and ends[-1] > ends[-2]
    # The subset values of the last run (after the previous whole-split one).
    last_run = []
    for r in vh[:-1]:
        last_run = [] if r["val"].get("images") == whole else last_run + [r["val"]["ap50"]]
    flat = len(last_run) >= 4 and max(last_run) - min(last_run) < 0.02
    out = ["| target | wanted | reached | met |", "|---|---|---|---|"]
    for name, want, got, ok in rows:
        out.append(f"| {name} | {want} | {got} | {'yes' if ok else '**no**'} |")
    if all(r[3] for r in rows):
        out.append("\nAll targets are met on the held-out synthetic set.")
        return "\n".join(out)
    out.append("")
    out.append("Where a target is not met, what would close the gap:")
    if not rows[0][3] or not rows[1][3]:
        val = ", ".join(f"{r['epoch']}: {r['val']['ap50']:.3f}" + ("*" if r["val"].get("images") == whole else "")
                        for r in vh)
        out.append("- **More training.** Validation AP50 by epoch "
                   f"(* on the whole val split, {whole} images; the others on its first "
                   f"{min((r['val'].get('images') or 0 for r in vh), default=0)}): {val}"
                   + (" — still rising from run to run" if rising else "") + ". "
                   + (f"Within the last run, though, it stayed between {min(last_run):.3f} and "
                      f"{max(last_run):.3f}, so more epochs of this recipe now buy little and the "
                      "changes below come first." if flat else
                      "More epochs is the first step: hours on this CPU, minutes on a GPU "
                      "(`MODEL_DEVICE=cuda`, about 7 s per epoch on an H200)."))
        errors = errors_bullet(ev)
        if errors:
            out.append(errors)
        out.append("- **Small cameras.** Train on larger crops at native resolution "
                   "(`MODEL_CROP=416`) and raise the share of cameras under 16 px in the "
                   "rendered set (`camaudit sim dataset`'s size distribution).")
        out.append("- **Capacity.** Presets `d2`/`d3` (model.py) are wider and deeper within the "
                   "1.5 GFLOPs budget, and slower per forward.")
        out.append("- **Doubles in walks.** Where `make accuracy`'s last line shows the firmware's false "
                   "sightings as second sightings of cameras it found (for 1.0.0: about three in four "
                   "the same camera boxed as another type, bullet/ALPR or dome/PTZ, the rest an extra "
                   "box beside it, a bracket or lamp head), hard negatives of mounts and lamp heads, "
                   "and more bullets and ALPR units seen side by side, would raise precision there.")
    if not rows[2][3]:
        out.append("- **Speed.** Fewer forwards per frame (a smaller region of interest, or "
                   "tiles at a coarser scale) or a cheaper preset; the firmware itself needs "
                   "only ~2 full frames per second on a walk.")
    return "\n".join(out)


def errors_bullet(ev):
    """The card's reading of the held-out errors (eval detect's missed and
    false counts): which kind of error dominates, and so which change comes
    first. Empty when the evaluation has no error counts."""
    missed = {r["reason"]: r for r in ev.get("missed") or []}
    false = {r["reason"]: r for r in ev.get("false") or []}
    n_missed = sum(r["count"] for r in missed.values())
    n_false = sum(r["count"] for r in false.values())
    if not n_missed and not n_false:
        return ""

    def count(d, k):
        return d.get(k, {}).get("count", 0)

    low, unseen, typed = count(missed, "low_score"), count(missed, "not_found"), count(missed, "wrong_type")
    unseen_small = missed.get("not_found", {}).get("by_size", [0])[0]
    bg = count(false, "background")
    text = (f"- **Where the errors are** (held-out set, at the threshold; table under Metrics). "
            f"Of {n_missed} cameras missed, {low} are boxed under the threshold, {unseen} not boxed at all "
            f"({unseen_small} of those under 16 px) and {typed} boxed as another type; of {n_false} false "
            f"detections, {bg} lie on no camera. ")
    parts = []
    if low >= max(unseen, typed):
        parts.append("the model finds more of the cameras it misses than it overlooks, but does not believe them")
    if bg * 2 >= n_false:
        parts.append("it takes look-alikes for cameras")
    if parts:
        text += ("So " + ", and ".join(parts) + ": it needs to separate cameras from look-alikes better (the "
                 "capacity below, harder negatives among the rendered distractors) before anything else.")
    elif unseen >= typed:
        text += "So most misses are cameras the model does not see at all: the small-camera measures below come first."
    else:
        text += "So types are the main error: more look-alike types side by side in the rendered set come first."
    return text


def walks_line(info):
    """The model card's line on walk frames in the training set."""
    if not info.get("walks_cmd"):
        return "- Walk frames: none (`MODEL_WALKS=0`)."
    return (f"- Walk frames: `{info['walks_cmd']}` — {info.get('walk_frames', '?')} frames "
            f"({info.get('walk_boxes', '?')} labelled cameras) of {info.get('walks', '?')} simulated walk{'' if info.get('walks') == 1 else 's'} "
            f"along random streets (`camaudit sim walk`: a chest camera on a sidewalk, cameras seen at "
            f"grazing angles as the walker nears them, motion blur, MJPEG; training photographs only), "
            f"added to the training split. The firmware's test walks (street20, walk22) are not among them.")


def more_metrics(extra):
    """A table of further `camaudit eval detect --json` results: [(label, result)]."""
    if not extra:
        return "(none recorded in this run)"
    rows = ["| set | tile scale | images | cameras | precision | recall | AP50 | recall < 16 px | 16-32 px | > 32 px |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, ev in extra:
        sz = [fmt(s.get("recall")) for s in ev.get("sizes", [])] + ["–"] * 3
        rows.append(f"| {label} | {ev.get('tile_scale', 1):g} | {ev.get('images')} | {ev.get('objects')} | "
                    f"{fmt(ev.get('precision'))} | {fmt(ev.get('recall'))} | {fmt(ev.get('ap50'))} | "
                    f"{sz[0]} | {sz[1]} | {sz[2]} |")
    return "\n".join(rows)


def tile_thresholds(specs):
    """The --tile-threshold SCALE=THRESHOLD specs as model.yaml's
    tile_thresholds ([{"scale": S, "threshold": T}], by scale), checked as
    the Go loader checks them; a bad one exits naming it."""
    out = {}
    for spec in specs:
        scale, sep, thr = spec.partition("=")
        try:
            scale, thr = float(scale), float(thr)
        except ValueError:
            sep = ""
        if not sep:
            sys.exit(f"bundle: --tile-threshold {spec!r}: want SCALE=THRESHOLD, e.g. 0.5=0.35")
        if not 0 < scale <= 16 or scale == 1:
            sys.exit(f"bundle: --tile-threshold {spec!r}: scale must be in (0, 16] and not 1 (--threshold's)")
        if not 0 < thr < 1:
            sys.exit(f"bundle: --tile-threshold {spec!r}: threshold must be in (0, 1)")
        if scale in out:
            sys.exit(f"bundle: --tile-threshold {spec!r}: scale {scale:g} given twice")
        out[scale] = thr
    return [{"scale": k, "threshold": out[k]} for k in sorted(out)]


def threshold_text(threshold, tile_thr):
    """The card's words for the default threshold(s)."""
    if not tile_thr:
        return f"{threshold:g}"
    more = ", ".join(f"{t['threshold']:g} at tile scale {t['scale']:g}" for t in tile_thr)
    return f"{threshold:g} at tile scale 1, {more} (`tile_thresholds`: an enlarged frame makes the model surer of more boxes, doubles among them)"


def metrics_tables(ev):
    """Markdown tables of a `camaudit eval detect --json` report."""
    lines = ["| class | objects | precision | recall | AP50 |", "|---|---:|---:|---:|---:|"]
    for c in ev["classes"]:
        lines.append(f"| {c['name']} | {c['objects']} | {fmt(c['precision'])} | {fmt(c['recall'])} | {fmt(c['ap50'])} |")
    lines.append(f"| **all (mean of classes)** | {ev['objects']} | {cell(ev, 'precision')} | {cell(ev, 'recall')} | "
                 f"{cell(ev, 'ap50', bold=True)} |")
    lines.append(f"| any class (type ignored) | {ev['objects']} | {fmt(ev['agnostic_precision'])} | "
                 f"{fmt(ev['agnostic_recall'])} | {cell(ev, 'agnostic_ap50')} |")
    lines += ["", "| size (longest side) | objects | precision | recall | AP50 |", "|---|---:|---:|---:|---:|"]
    size_iv = (ev.get("intervals") or {}).get("size_recall") or []
    for i, s in enumerate(ev["sizes"]):
        rec = fmt(s["recall"])
        if i < len(size_iv) and None not in size_iv[i]:
            rec += span(size_iv[i])
        lines.append(f"| {s['name']} px | {s['objects']} | {fmt(s['precision'])} | {rec} | {fmt(s['ap50'])} |")
    if intervals_note(ev):
        lines += ["", intervals_note(ev)]
    if ev.get("missed") and ev.get("false"):
        lines += ["", error_table(ev["missed"], ev["false"])]
    return "\n".join(lines)


# What each reason of `camaudit eval detect` (eval/errors.go) means, for the card.
MISSED_TEXT = {
    "merged": "one box for two cameras",
    "wrong_type": "boxed, but as another type",
    "loose_box": "a box overlaps it, IoU 0.1-0.5",
    "low_score": "boxed under the threshold",
    "not_found": "no box on it",
}
FALSE_TEXT = {
    "duplicate": "second box on a found camera",
    "wrong_type": "on a camera of another type",
    "loose_box": "off a camera's box, IoU 0.1-0.5",
    "background": "on no camera: a look-alike or clutter",
}


def error_table(missed, false):
    """Markdown table of why cameras were missed and what false detections were, per size."""
    lines = ["Why cameras were missed and what the false detections were, at the same threshold "
             "(`camaudit eval detect` prints this table; `--errors FILE` lists each one with its image; "
             "a missed camera's reason is the first that applies, in the order listed):", "",
             "| at the threshold | all | < 16 px | 16-32 px | > 32 px |", "|---|---:|---:|---:|---:|"]
    for title, rows, text in (("missed", missed, MISSED_TEXT), ("false detection", false, FALSE_TEXT)):
        for r in rows:
            b = r["by_size"]
            lines.append(f"| {title}: {r['reason']} ({text.get(r['reason'], '')}) | {r['count']} | {b[0]} | {b[1]} | {b[2]} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--onnx", required=True)
    ap.add_argument("--eval", default="", help="camaudit eval detect --json output on the held-out set")
    ap.add_argument("--stage", action="store_true",
                    help="write a staging bundle without metrics or card (to evaluate it and check it in Go)")
    ap.add_argument("--speed", default="", help="JSON from speed.py --json (optional)")
    ap.add_argument("--train-info", default="", help="JSON with dataset facts written by make_model.sh")
    ap.add_argument("--eval-more", action="append", default=[], metavar="LABEL=FILE",
                    help="a further camaudit eval detect --json result for the card (repeatable)")
    ap.add_argument("--threshold", type=float, default=0,
                    help="default score threshold (0: the F1-optimal one train.py found on val, else 0.35)")
    ap.add_argument("--tile-threshold", action="append", default=[], metavar="SCALE=THRESHOLD",
                    help="default score threshold at another tile scale than 1 (repeatable), "
                         "e.g. 0.5=0.35: model.yaml's tile_thresholds")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tile_thr = tile_thresholds(args.tile_threshold)

    ck = torch.load(args.ckpt, map_location="cpu")
    net = CamNet(ck["nc"], ck["preset"])
    net.load_state_dict(ck["ema"])
    net.eval()
    w, h = ck["export_width"], ck["export_height"]
    if not args.threshold:
        args.threshold = float(ck.get("threshold") or 0.35)
    if not args.eval and not args.stage:
        sys.exit("bundle: --eval is required (or --stage)")
    ev = None
    if args.eval:
        with open(args.eval) as f:
            ev = json.load(f)
    speed = {}
    if args.speed:
        with open(args.speed) as f:
            speed = json.load(f)
    extra = []
    for spec in args.eval_more:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            sys.exit(f"bundle: --eval-more {spec!r}: want LABEL=FILE")
        with open(path) as f:
            extra.append((label, json.load(f)))
    info = {}
    if args.train_info:
        with open(args.train_info) as f:
            info = json.load(f)

    os.makedirs(args.out, exist_ok=True)
    onnx_out = os.path.join(args.out, "model.onnx")
    if os.path.abspath(args.onnx) != os.path.abspath(onnx_out):
        shutil.copyfile(args.onnx, onnx_out)
    digest = sha256(onnx_out)
    size_mb = os.path.getsize(onnx_out) / 1e6
    if size_mb > 10:
        sys.exit(f"bundle: {onnx_out} is {size_mb:.1f} MB, over the 10 MB budget")
    gflops = flops(net, w, h) / 1e9
    hist = ck.get("history", [])
    targs = ck.get("args", {})
    base = first_settings(ck)  # the first run's learning rate and crop size

    metrics = {"gflops": round(gflops, 3)}
    if ev:
        metrics.update(eval_metrics(ev))
    if speed.get("forward_ms"):
        metrics["forward_ms_1thread"] = round(speed["forward_ms"], 2)
    if speed.get("fps_1080p"):
        metrics["fps_1080p_1thread"] = round(speed["fps_1080p"], 1)
    metrics = {k: v for k, v in metrics.items() if v is not None}
    training = {
        "data": info.get("data", "camaudit sim dataset (synthetic)"),
        "images": int(info.get("train_images", 0)),
        "seed": int(targs.get("seed", 0)),
        "command": "make model",
        "preset": ck["preset"],
        "epochs": int(targs.get("epochs", 0)),
        "crop": int(base["crop"]),
        "train_seconds": float(ck.get("train_seconds", 0)),
        "holdout": info.get("holdout", ""),
        **({"walks": info["walks_cmd"], "walk_frames": int(info.get("walk_frames", 0))} if info.get("walks_cmd") else {}),
        **({"init": init_of(ck)} if init_of(ck) else {}),
        "notes": "synthetic images only (camaudit simulator); real-world accuracy not measured",
    }
    manifest = {
        "name": NAME,
        "version": VERSION,
        "layout": "yolov8",
        "input": {"width": w, "height": h, "color": "rgb", "scale": 1 / 255},
        "labels": LABELS,
        "types": {l: l for l in LABELS},
        "threshold": args.threshold,
        **({"tile_thresholds": tile_thr} if tile_thr else {}),
        "nms_iou": 0.5,
        "sha256": digest,
        "tiling": {"roi": [0.0, 0.0, 1.0, 0.65], "overlap": 0.05, "full_frame": True},
        "description": "CamNet: small anchor-free detector (strides 4/8/16) of surveillance cameras, "
                       "for tiled full-resolution inference on a CPU",
        "license": "weights: camaudit's licence; trained on camaudit's own renders composited on "
                   "BSD-2-Clause photographs (credits in MODEL_CARD.md)",
        "credits": info.get("credits", []),
        "training": training,
        "metrics": metrics,
    }
    with open(os.path.join(args.out, "model.yaml"), "w") as f:
        f.write(f"# camaudit model bundle, written by detect/train/bundle.py ({datetime.date.today()})\n")
        yaml.safe_dump(manifest, f, sort_keys=False, width=120, default_flow_style=None)

    wrapped = Exported(fold_bn(net), w, h).eval()
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(reference(wrapped, w, h), f, separators=(",", ":"))
    if args.stage:
        print(f"bundle: staged {args.out} (model.onnx {size_mb:.2f} MB, no metrics yet)", file=sys.stderr)
        return

    tmpl_path = os.path.join(HERE, "MODEL_CARD.tmpl.md")
    with open(tmpl_path) as f:
        tmpl = f.read()
    val_hist = [r for r in hist if "val" in r]
    subs = {
        "NAME": NAME, "VERSION": VERSION, "SHA256": digest,
        "INPUT": f"{w}×{h}", "GFLOPS": f"{gflops:.2f}", "PARAMS": f"{sum(p.numel() for p in net.parameters()) / 1e3:.0f} k",
        "ONNX_MB": f"{size_mb:.2f}", "PRESET": ck["preset"],
        "EPOCHS": str(targs.get("epochs", "")), "CROP": str(base["crop"]),
        "BATCH": str(targs.get("batch", "")), "SEED": str(targs.get("seed", "")),
        "LR": f"{base['lr']:g}",
        "TRAIN_IMAGES": str(info.get("train_images", "")), "VAL_IMAGES": str(info.get("val_images", "")),
        "HOLDOUT_IMAGES": str(ev.get("images", "")), "HOLDOUT_OBJECTS": str(ev.get("objects", "")),
        "TRAIN_TIME": f"{ck.get('train_seconds', 0) / 3600:.2f} h",
        "HARDWARE": hardware(hist),
        "TOTAL_TIME": info.get("total_time", "(see make model's log)"),
        "DATASET_CMD": info.get("dataset_cmd", ""), "HOLDOUT_CMD": info.get("holdout_cmd", ""),
        "BG_TRAIN": ", ".join(info.get("bg_train", [])), "BG_HOLDOUT": ", ".join(info.get("bg_holdout", [])),
        "THRESHOLD": f"{args.threshold:g}",
        "THRESHOLDS": threshold_text(args.threshold, tile_thr),
        "METRICS": metrics_tables(ev),
        "MORE_METRICS": more_metrics(extra),
        "WALKS": walks_line(info),
        "ARCH": architecture(ck["preset"]),
        "SCHEDULE": schedule(ck, info.get("recipe", "")),
        "TARGETS": targets(ev, speed, hist),
        "EVAL_MS": f"{ev.get('ms_per_image', 0):.1f}",
        "FORWARD_MS": sfmt(speed.get("forward_ms"), 1),
        "FPS_1080P": sfmt(speed.get("fps_1080p"), 1), "TILES_1080P": sfmt(speed.get("tiles_1080p"), 0),
        "FPS_720P": sfmt(speed.get("fps_720p"), 1), "TILES_720P": sfmt(speed.get("tiles_720p"), 0),
        "VAL_AP": fmt(val_hist[-1]["val"]["ap50"]) if val_hist else "–",
        "DATE": str(datetime.date.today()),
    }
    for k, v in subs.items():
        tmpl = tmpl.replace("{{" + k + "}}", str(v))
    if "{{" in tmpl:
        start = tmpl.index("{{")
        sys.exit(f"bundle: {tmpl_path} has an unknown placeholder near {tmpl[start:start + 30]!r}")
    with open(os.path.join(args.out, "MODEL_CARD.md"), "w") as f:
        f.write(tmpl)
    print(f"bundle: wrote {args.out} (model.onnx {size_mb:.2f} MB sha256 {digest[:12]}..., "
          f"AP50 {fmt(ev['ap50'])}, recall<16 {fmt(ev['sizes'][0]['recall'])})", file=sys.stderr)


if __name__ == "__main__":
    main()
