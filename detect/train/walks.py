#!/usr/bin/env python3
"""Training frames from simulated walks, in the YOLO layout train.py reads.

`camaudit sim dataset` renders single views of random streets; the firmware,
though, sees a street the way `camaudit sim walk` renders it: a chest camera
walking along a sidewalk, cameras on the facades ahead seen at grazing
angles and growing as the walker nears them, motion blur, MJPEG. A detector
trained on the first alone finds far fewer cameras per frame in the second
(docs/model.md, "Walk frames"). This script writes random walk scenarios
(never the firmware's test walks: seeds, towns and camera lists are its
own), renders each with `camaudit sim walk`, and keeps every Nth frame with
the simulator's truth boxes as YOLO labels:

    walks.py --camaudit build/camaudit --out build/walks --n 12 --seed 5000 \
             --backgrounds build/bg-train

OUT/images/train/*.jpg, OUT/labels/train/*.txt, OUT/data.yaml and
OUT/walks.json (what was rendered) come out; OUT/scenarios/ keeps each
scenario file. Rendering is deterministic for a given seed. Progress goes to
stderr. Use --mix DIR with a `camaudit sim dataset` folder to also write
OUT-mix/, a data set whose train split is both (symlinks) and whose val
split is the dataset's.

With --replayable the same random scenarios (named test-walk-SEED) are
rendered whole at --fps (10) and kept as OUT/walk-SEED folders for
`camaudit replay` and `camaudit eval walk` instead: `make accuracy`
(scripts/accuracy.sh) measures the firmware on them. The folders' paths go
to stdout; a folder whose scenario did not change is not rendered again.
"""

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys

import cv2

NAMES = ["dome", "bullet", "ptz", "alpr"]
STYLES = ["brick", "plaster", "glass", "shop", "concrete"]


def side_spec(rng, photo):
    styles = rng.sample(STYLES, rng.randint(2, 4))
    if photo and rng.random() < 0.4:
        styles.append("photo")
    lo = rng.uniform(8, 14)
    w = rng.uniform(7, 12)
    return {"height_m": [round(lo, 1), round(lo + rng.uniform(3, 10), 1)],
            "width_m": [round(w, 1), round(w + rng.uniform(4, 10), 1)],
            "styles": styles, "gap_prob": round(rng.uniform(0, 0.15), 2)}


def street_spec(rng, sid, points, photo):
    road = round(rng.uniform(6, 10), 1)
    st = {"id": sid, "points": points, "road_width_m": road, "sidewalk_m": round(rng.uniform(2.6, 4), 1),
          "left": side_spec(rng, photo), "right": side_spec(rng, photo)}
    if rng.random() < 0.85:
        st["lamps"] = {"spacing_m": rng.randint(18, 35), "sides": rng.choice(["alternate", "both", "left", "right"]),
                       "style": rng.choice(["cobra", "cobra", "globe"])}
    if rng.random() < 0.3:
        st["trees"] = {"spacing_m": rng.randint(8, 15), "sides": rng.choice(["both", "left", "right"]),
                       "offset_m": round(road / 2 + 0.5, 2)}  # at the kerb, clear of the walker
    return st


def cameras(rng, street, heading, length, n0):
    """Random cameras along both sides of a street running `heading` (compass degrees)."""
    out = []
    half = street["road_width_m"] / 2
    for side in ("left", "right"):
        normal = (heading + (90 if side == "left" else -90)) % 360  # facing the street
        s = rng.uniform(6, 18)
        while s < length - 6:
            typ = rng.choices(NAMES, weights=[3, 3, 2, 2])[0]
            mount = rng.choices(["wall", "pole", "ceiling", "street_lamp"], weights=[6, 1.5, 1, 1.5])[0]
            at = {"street": street["id"], "side": side, "s_m": round(s, 1)}
            cam = {"id": f"t{n0 + len(out):03d}", "type": typ, "mount": mount, "at": at}
            if mount in ("pole", "street_lamp"):
                at["offset_m"] = round(half + rng.uniform(0.3, 0.8), 2)
                cam["height_m"] = round(rng.uniform(3.5, 6.5), 1)
            else:
                cam["height_m"] = round(rng.uniform(2.6, 7), 1)
            if rng.random() < 0.6:
                cam["direction_deg"] = round((normal + rng.uniform(-70, 70)) % 360, 1)
            if typ in ("bullet", "alpr"):
                cam["tilt_deg"] = round(rng.uniform(0, 25), 1)
            if rng.random() < 0.5:
                cam["color"] = rng.choice(["white", "grey", "black", "beige"])
            cam["scale"] = round(rng.uniform(0.8, 1.3), 2)
            out.append(cam)
            s += rng.uniform(7, 22)
    return out


def scenario(seed, backgrounds, fps=2, kind="train"):
    """A random walk scenario (a dict that the scenario YAML parser reads as JSON)."""
    rng = random.Random(seed)
    photo = bool(backgrounds)
    la = round(rng.uniform(140, 220), 0)
    a = street_spec(rng, "a", [[-20, 0], [la, 0]], photo)
    streets = [a]
    walk_y = (a["road_width_m"] / 2 + a["sidewalk_m"] * 0.6) * rng.choice([-1, 1])
    cams = cameras(rng, a, 90, la + 20, 0)
    if rng.random() < 0.4:  # an L: the walk turns into a second street beyond a's end
        xb = la + 4
        lb = round(rng.uniform(80, 150), 0)
        b = street_spec(rng, "b", [[xb, 4], [xb, lb]], photo)
        streets.append(b)
        cams += cameras(rng, b, 0, lb - 4, len(cams))
        wb = xb + b["road_width_m"] / 2 + b["sidewalk_m"] * 0.6
        route = [[0, walk_y], [wb, walk_y], [wb, lb - 8]]
    else:
        route = [[0, walk_y], [la - 10, walk_y]]
    big = rng.random() < 0.3
    lighting = rng.choices(["sun", "overcast", "dusk"], weights=[6, 3, 1])[0]
    sc = {
        "name": f"{kind}-walk-{seed}", "seed": seed,
        "origin": {"lat": round(rng.uniform(-40, 60), 4), "lon": round(rng.uniform(-100, 100), 4)},
        "start": "2026-06-01T10:00:00Z", "lighting": lighting,
        "streets": streets,
        "route": {"points": route, "speed_mps": round(rng.uniform(1.1, 1.6), 2)},
        "device": {"width": 1920 if big else 1280, "height": 1080 if big else 720, "fps": fps,
                   "hfov_deg": round(rng.uniform(55, 78), 1), "eye_height_m": round(rng.uniform(1.25, 1.55), 2),
                   "mount": {"yaw_deg": round(rng.uniform(-12, 12), 1), "pitch_deg": round(rng.uniform(3, 15), 1),
                             "roll_deg": round(rng.uniform(-2, 2), 1)},
                   "jitter": {"bob_m": 0.02, "yaw_deg": round(rng.uniform(0.5, 1.5), 2),
                              "pitch_deg": round(rng.uniform(0.4, 1.2), 2), "roll_deg": round(rng.uniform(0.5, 1.5), 2),
                              "step_hz": 1.8},
                   "noise": round(rng.uniform(1.5, 4), 1), "exposure": round(rng.uniform(0.03, 0.1), 2),
                   "motion_blur": round(rng.uniform(0.3, 1), 2)},
        "gnss": {"rate_hz": 1, "sigma_m": 3},
        "cameras": cams,
        "distractors": {"per_100m": rng.randint(5, 14)},
    }
    if lighting == "sun":
        sc["sun"] = {"azimuth_deg": rng.randint(0, 359), "elevation_deg": rng.randint(15, 60)}
    if backgrounds:
        sc["backgrounds"] = os.path.abspath(backgrounds)
    return sc


def labels(boxes, w, h, min_visible, min_px):
    rows = []
    for b in boxes or []:
        if b.get("visible", 1) < min_visible or b.get("type") not in NAMES:
            continue
        x0, y0, x1, y1 = (float(v) for v in b["box"])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if max(x1 - x0, y1 - y0) < min_px or x1 <= x0 or y1 <= y0:
            continue
        rows.append(f"{NAMES.index(b['type'])} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                    f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}")
    return rows


def extract(walk_dir, tag, out, every, min_visible, min_px):
    """Writes every `every`th frame of walk_dir with its labels; returns (frames, boxes)."""
    with open(os.path.join(walk_dir, "frames.jsonl")) as f:
        truth = [json.loads(line) for line in f if line.strip()]
    cap = cv2.VideoCapture(os.path.join(walk_dir, "walk.avi"))
    if not cap.isOpened():
        raise RuntimeError(f"walk {walk_dir}: cannot open walk.avi")
    kept = nboxes = 0
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % every == 0 and i < len(truth):
            h, w = img.shape[:2]
            rows = labels(truth[i].get("boxes"), w, h, min_visible, min_px)
            stem = f"{tag}_{i:05d}"
            cv2.imwrite(os.path.join(out, "images", "train", stem + ".jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            with open(os.path.join(out, "labels", "train", stem + ".txt"), "w") as f:
                f.write("".join(r + "\n" for r in rows))
            kept += 1
            nboxes += len(rows)
        i += 1
    if i < len(truth):
        raise RuntimeError(f"walk {walk_dir}: walk.avi has {i} frames, frames.jsonl {len(truth)}")
    return kept, nboxes


def render(camaudit, sc, path, rdir, max_frames=0):
    """Writes scenario sc to path and renders it into rdir. A wall camera that
    the random layout left without a facade (an alley gap) is dropped and the
    walk tried again; any other error stops with the simulator's message."""
    for _ in range(len(sc["cameras"]) + 1):
        with open(path, "w") as f:
            json.dump(sc, f, indent=1)
        p = subprocess.run([camaudit, "sim", "walk", "--scenario", path, "--out", rdir, "--quiet",
                            "--frames", str(max_frames)], stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        if p.returncode == 0:
            return
        m = re.search(r"cameras\[(\d+)\]\.at: no facade", p.stderr)
        if not m:
            raise RuntimeError(f"walks: rendering {path}: {p.stderr.strip()}")
        del sc["cameras"][int(m.group(1))]
    raise RuntimeError(f"walks: rendering {path}: no camera fits")


def link_split(src_root, dst_root, split, sub):
    for kind in ("images", "labels"):
        s = os.path.join(src_root, kind, split)
        d = os.path.join(dst_root, kind, sub)
        os.makedirs(d, exist_ok=True)
        for name in sorted(os.listdir(s)):
            os.symlink(os.path.realpath(os.path.join(s, name)), os.path.join(d, name))


def write_yaml(root, note):
    with open(os.path.join(root, "data.yaml"), "w") as f:
        f.write(f"# {note}\npath: {os.path.abspath(root)}\ntrain: images/train\nval: images/val\n"
                f"nc: {len(NAMES)}\nnames: [{', '.join(NAMES)}]\n")


def held_out(args):
    """Writes the frames of already rendered walks (e.g. the firmware's test
    walks) as OUT/images/train + labels/train, for `camaudit eval detect
    --split train`; nothing of it is meant for training."""
    shutil.rmtree(args.out, ignore_errors=True)
    for d in ("images/train", "labels/train"):
        os.makedirs(os.path.join(args.out, d))
    summary = {"every": args.every, "walks": []}
    for w in args.walk:
        tag = os.path.basename(os.path.normpath(w))
        frames, boxes = extract(w, tag, args.out, args.every, args.min_visible, args.min_px)
        summary["walks"].append({"walk": tag, "frames": frames, "boxes": boxes})
        print(f"walks: {w}: {frames} frames, {boxes} boxes", file=sys.stderr, flush=True)
    with open(os.path.join(args.out, "walks.json"), "w") as f:
        json.dump(summary, f, indent=1)
    write_yaml(args.out, f"frames of {', '.join(args.walk)}, every {args.every}")


def replayable(args):
    """Renders random walks whole, at --fps, and keeps each one's folder
    (OUT/walk-SEED: walk.avi, track.nmea, truth.geojson, walk.json,
    scenario.yaml) for `camaudit replay` and `camaudit eval walk`: the
    firmware measured on walks it was never tuned on. A folder whose
    scenario is unchanged is kept as it is (rendering takes a minute)."""
    os.makedirs(args.out, exist_ok=True)
    done = []
    for k in range(args.n):
        seed = args.seed + k
        sc = scenario(seed, args.backgrounds, args.fps, "test")
        rdir = os.path.join(args.out, f"walk-{seed}")
        path = os.path.join(rdir, "scenario.yaml")
        want = json.dumps({"scenario": sc, "max_frames": args.max_frames}, sort_keys=True)
        stamp = os.path.join(rdir, ".scenario")
        if os.path.exists(stamp) and open(stamp).read() == want:
            print(f"walks: {k + 1}/{args.n} {rdir}: up to date", file=sys.stderr, flush=True)
        else:
            shutil.rmtree(rdir, ignore_errors=True)
            tmp = rdir + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            render(args.camaudit, sc, os.path.join(tmp, "scenario.yaml"), tmp, args.max_frames)
            os.rename(tmp, rdir)
            with open(stamp, "w") as f:
                f.write(want)
            print(f"walks: {k + 1}/{args.n} {rdir}: {len(sc['cameras'])} cameras rendered", file=sys.stderr, flush=True)
        done.append(rdir)
    print("\n".join(done))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--camaudit", default="build/camaudit", help="camaudit binary")
    ap.add_argument("--out", required=True, help="output folder (replaced)")
    ap.add_argument("--n", type=int, default=12, help="number of walks")
    ap.add_argument("--seed", type=int, default=5000, help="seed of the first walk (walk i: seed + i)")
    ap.add_argument("--every", type=int, default=1, help="keep every Nth frame (walks render at 2 frames/s)")
    ap.add_argument("--backgrounds", default="", help="street photos for photo facades (training ones only)")
    ap.add_argument("--max-frames", type=int, default=0, help="render only the first N frames of each walk (0: all)")
    ap.add_argument("--min-visible", type=float, default=0.3, help="label boxes at least this visible")
    ap.add_argument("--min-px", type=float, default=4, help="label boxes whose longest side is at least this")
    ap.add_argument("--mix", default="", help="a camaudit sim dataset folder: also write OUT-mix (both train splits)")
    ap.add_argument("--replayable", action="store_true",
                    help="render the --n random walks whole at --fps and keep their folders (OUT/walk-SEED) for "
                         "camaudit replay, instead of writing frames; prints the folders on stdout")
    ap.add_argument("--fps", type=float, default=10, help="with --replayable: frame rate of the rendered walks")
    ap.add_argument("--walk", action="append", default=[],
                    help="instead of random walks, take the frames of this rendered walk folder "
                         "(camaudit sim walk --out; repeatable): a held-out set of walk frames for eval detect")
    args = ap.parse_args()
    if args.walk:
        held_out(args)
        return
    if args.n < 1 or args.every < 1 or args.fps <= 0 or args.max_frames < 0:
        sys.exit("walks: --n and --every must be at least 1, --fps positive, --max-frames not negative")
    if not os.access(args.camaudit, os.X_OK):
        sys.exit(f"walks: --camaudit {args.camaudit}: not an executable (run go build -o build/camaudit ./cmd/camaudit)")
    if args.replayable:
        replayable(args)
        return
    shutil.rmtree(args.out, ignore_errors=True)
    for d in ("images/train", "labels/train", "images/val", "labels/val", "scenarios", "render"):
        os.makedirs(os.path.join(args.out, d))
    summary = {"seed": args.seed, "n": args.n, "every": args.every, "walks": []}
    total_f = total_b = 0
    for k in range(args.n):
        seed = args.seed + k
        sc = scenario(seed, args.backgrounds)
        path = os.path.join(args.out, "scenarios", f"walk-{seed}.yaml")
        rdir = os.path.join(args.out, "render", str(seed))
        render(args.camaudit, sc, path, rdir, args.max_frames)
        frames, boxes = extract(rdir, f"w{seed}", args.out, args.every, args.min_visible, args.min_px)
        shutil.rmtree(rdir)  # the video and NMEA are not needed any more
        total_f += frames
        total_b += boxes
        summary["walks"].append({"seed": seed, "cameras": len(sc["cameras"]), "frames": frames, "boxes": boxes,
                                 "size": f"{sc['device']['width']}x{sc['device']['height']}",
                                 "lighting": sc["lighting"]})
        print(f"walks: {k + 1}/{args.n} seed {seed}: {len(sc['cameras'])} cameras, {frames} frames, "
              f"{boxes} boxes (total {total_f} frames, {total_b} boxes)", file=sys.stderr, flush=True)
    os.rmdir(os.path.join(args.out, "render"))
    summary.update(frames=total_f, boxes=total_b)
    with open(os.path.join(args.out, "walks.json"), "w") as f:
        json.dump(summary, f, indent=1)
    write_yaml(args.out, f"written by walks.py --n {args.n} --seed {args.seed} --every {args.every}")
    if args.mix:
        mix = args.out.rstrip("/") + "-mix"
        shutil.rmtree(mix, ignore_errors=True)
        link_split(args.mix, mix, "train", "train")
        link_split(args.out, mix, "train", "train")
        link_split(args.mix, mix, "val", "val")
        write_yaml(mix, f"train: {args.mix} and {args.out}; val: {args.mix}")
        print(f"walks: {mix}: train = {args.mix} + {args.out}, val = {args.mix}", file=sys.stderr)


if __name__ == "__main__":
    main()
