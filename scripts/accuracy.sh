#!/usr/bin/env bash
# make accuracy: the firmware's end-to-end accuracy on random walks, not the
# test walks its settings were chosen on (seeds 9000-9005 did help choose
# the approach step's gate, docs/firmware.md; ACC_SEED=9100 gives untouched
# ones). Renders ACC_WALKS random walk scenarios (seeds ACC_SEED,
# ACC_SEED+1, ...; 19-45 cameras of every type and mount, GNSS sigma 3 m,
# 10 frames/s; detect/train/walks.py --replayable, cached in
# ACC_DIR/acc-walks), replays each with `camaudit replay` and scores it with
# `camaudit eval walk`,
# then prints one line per walk and the pooled figures that issue 6 asks for:
# precision, recall, count error and median position error; and how many of
# the false sightings lie within 15 m of a camera the walk found (a second
# sighting of it) and how many elsewhere; and the seen cameras missed, by
# whether a false sighting lies within 15 m and else by the largest box each
# had in the walk (< 16, 16-32, >= 32 px).
#
# Settings (environment):
#   ACC_WALKS=6        number of walks          ACC_SEED=9000  first seed
#   ACC_MODEL=DIR      bundle (default models/camaudit-cams-v1)
#   ACC_TILE_SCALE=S   detector tile scale (default: the config's, else the bundle's)
#   ACC_CONFIG=FILE    device config for thresholds (optional)
#   ACC_DETECTOR=model the trained model; "truth" uses the simulator's boxes
#                      (tracking and location alone, no detector); "recorded"
#                      replays the detections a model run saved (below)
#   ACC_DETECTIONS=DIR with ACC_DETECTOR=recorded: a model run's results folder
#                      (ACC_DIR/accuracy/TAG); its WALK.detections.jsonl files are
#                      replayed instead of running the model (the same walks
#                      unless ACC_SEED or ACC_WALKS say otherwise): seconds per walk,
#                      for tuning tracking, location and the threshold (the
#                      config's model.threshold, or ACC_THRESHOLD, may raise the
#                      recorded one; record at a low one, e.g. ACC_THRESHOLD=0.2)
#   ACC_THRESHOLD=T    detector score threshold (default: the config's, else the
#                      bundle's at the tile scale; with recorded: every recorded box)
#   ACC_VERIFY=on|off  the bundle's verifier (the second look at each detection):
#                      default on when ACC_MODEL has one; with recorded, "on"
#                      passes detections recorded without it through ACC_MODEL's
#   ACC_JOBS=N         replays at once (default: the number of CPUs)
#   ACC_FRAMES=N       render only the first N frames of each walk (a quick try:
#                      recall is then low, the truth being the whole walk's cameras)
#   ACC_DIR=build      where the walks (ACC_DIR/acc-walks) and results go
#   ACC_SEEN_FRAMES=10, ACC_SEEN_PX=8  what counts as a camera the walk saw
#   CAMAUDIT=FILE      the camaudit binary (default build/camaudit)
# Results: ACC_DIR/accuracy/TAG/ (per-walk sightings, eval JSON, replay logs,
# the model's detections per frame: boxes and scores, never pixels;
# summary.json); TAG names the detector, tile scale, threshold, config and
# first seed.
set -euo pipefail
cd "$(dirname "$0")/.."

WALKS=${ACC_WALKS:-6}
SEED=${ACC_SEED:-9000}
MODEL=${ACC_MODEL:-models/camaudit-cams-v1}
TS=${ACC_TILE_SCALE:-}
CONFIG=${ACC_CONFIG:-}
DETECTOR=${ACC_DETECTOR:-model}
DETS=${ACC_DETECTIONS:-}
THR=${ACC_THRESHOLD:-}
VERIFY=${ACC_VERIFY:-}
JOBS=${ACC_JOBS:-$(nproc)}
FRAMES=${ACC_FRAMES:-0}
DIR=${ACC_DIR:-build}
PY=${PYTHON:-/usr/bin/python3}
CAM=${CAMAUDIT:-build/camaudit}

case "$DETECTOR" in
  model) [ -f "$MODEL/model.yaml" ] || { echo "accuracy: ACC_MODEL=$MODEL has no model.yaml" >&2; exit 2; } ;;
  truth) ;;
  recorded)
    [ -n "$DETS" ] && compgen -G "$DETS/*.detections.jsonl" > /dev/null ||
      { echo "accuracy: ACC_DETECTIONS=$DETS has no *.detections.jsonl (give a model run's results folder)" >&2; exit 2; }
    [ -z "$TS" ] || { echo "accuracy: ACC_TILE_SCALE does not apply to recorded detections" >&2; exit 2; } ;;
  *) echo "accuracy: ACC_DETECTOR=$DETECTOR: want model, truth or recorded" >&2; exit 2 ;;
esac
# Recorded detections name their walks: unless given, the seed and number
# of walks are the recording's.
if [ "$DETECTOR" = recorded ]; then
  rec=$(cd "$DETS" && ls walk-*.detections.jsonl | sed 's/walk-\([0-9]*\).*/\1/' | sort -n)
  SEED=${ACC_SEED:-$(head -1 <<< "$rec")}
  WALKS=${ACC_WALKS:-$(wc -l <<< "$rec")}
fi
[ -x "$CAM" ] || { echo "accuracy: $CAM missing: run make build" >&2; exit 2; }

case "$DETECTOR" in
  model) TAG="$(basename "$MODEL")-ts${TS:-default}" ;;
  recorded) TAG="recorded-$(basename "$DETS")" ;; # its name has the seed
  *) TAG=$DETECTOR ;;
esac
[ -n "$THR" ] && TAG="$TAG-thr$THR"
[ -n "$VERIFY" ] && TAG="$TAG-verify$VERIFY"
[ -n "$CONFIG" ] && TAG="$TAG-$(basename "$CONFIG" .yaml)"
[ "$DETECTOR" = recorded ] || TAG="$TAG-seed$SEED"
OUT=$DIR/accuracy/$TAG
rm -rf "$OUT"
mkdir -p "$OUT"

echo "accuracy: rendering $WALKS walks from seed $SEED into $DIR/acc-walks (cached)" >&2
LIST=$("$PY" detect/train/walks.py --replayable --camaudit "$CAM" --out "$DIR/acc-walks" \
  --n "$WALKS" --seed "$SEED" --max-frames "$FRAMES")
mapfile -t DIRS <<< "$LIST"

# One walk: replay, then score. Runs under xargs -P.
one() {
  local w=$1 name args
  name=$(basename "$w")
  args=(replay --quiet --video "$w/walk.avi" --nmea "$w/track.nmea" --walk-json "$w/walk.json"
        --out "$OUT/$name.geojson")
  case "$DETECTOR" in
    truth) args+=(--truth "$w/frames.jsonl") ;;
    recorded) args+=(--detections "$DETS/$name.detections.jsonl")
              # Passed through the verifier, what it keeps is saved: the
              # detections the firmware used, for the misses' analysis.
              if [ "$VERIFY" = on ]; then args+=(--model "$MODEL" --save-detections "$OUT/$name.detections.jsonl"); fi ;;
    *) args+=(--model "$MODEL" --save-detections "$OUT/$name.detections.jsonl") ;;
  esac
  [ -n "$TS" ] && args+=(--tile-scale "$TS")
  [ -n "$THR" ] && args+=(--threshold "$THR")
  [ -n "$VERIFY" ] && args+=(--verify "$VERIFY")
  [ -n "$CONFIG" ] && args+=(--config "$CONFIG")
  if ! "$CAM" "${args[@]}" > "$OUT/$name.log" 2>&1; then
    echo "accuracy: replay of $w failed:" >&2
    tail -5 "$OUT/$name.log" >&2
    return 1
  fi
  "$CAM" eval walk --json --truth "$w/truth.geojson" --sightings "$OUT/$name.geojson" > "$OUT/$name.json"
  echo "accuracy: $name done ($(tail -1 "$OUT/$name.log" | grep -o '[0-9.]* frames/s' || true))" >&2
}
export -f one
export OUT DETECTOR MODEL TS THR VERIFY DETS CONFIG CAM
echo "accuracy: replaying with $TAG, $JOBS at a time" >&2
printf '%s\n' "${DIRS[@]}" | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {}

# The scenarios' truth lists every camera placed along the streets, also
# those the walker's camera never frames (behind its start, above the frame,
# hidden by a pole). Recall is given against all of them and against the
# cameras seen: in at least ACC_SEEN_FRAMES (10) frames, at least 30 %
# visible and ACC_SEEN_PX (8) px on the longer side (frames.jsonl).
SEEN_FRAMES=${ACC_SEEN_FRAMES:-10} SEEN_PX=${ACC_SEEN_PX:-8} DETECTOR=$DETECTOR DETS=$DETS THR=$THR \
  "$PY" - "$OUT" "${DIRS[@]}" <<'PYEOF'
import collections, json, math, os, re, statistics, sys
out, dirs = sys.argv[1], sys.argv[2:]
DOUBLE_M = 15.0
min_frames, min_px = int(os.environ["SEEN_FRAMES"]), float(os.environ["SEEN_PX"])


def seen_cameras(walk):
    """The cameras the walk saw; each camera's largest box (px, at least 30 % visible);
    and each camera's views of 16 px or more as (frame, type, box)."""
    n, largest, views = collections.Counter(), collections.defaultdict(float), collections.defaultdict(list)
    with open(os.path.join(walk, "frames.jsonl")) as f:
        for line in f:
            o = json.loads(line)
            for b in o.get("boxes") or []:
                x0, y0, x1, y1 = b["box"]
                if b.get("visible", 1) < 0.3:
                    continue
                side = max(x1 - x0, y1 - y0)
                largest[b["id"]] = max(largest[b["id"]], side)
                if side >= min_px:
                    n[b["id"]] += 1
                if side >= 16:
                    views[b["id"]].append((o["frame"], b["type"], b["box"]))
    return {cid for cid, k in n.items() if k >= min_frames}, largest, views


def metres(a, b):
    """Distance between two [lon, lat] points (equirectangular: fine at street scale)."""
    return math.hypot((a[0] - b[0]) * 111320 * math.cos(math.radians(a[1])), (a[1] - b[1]) * 110540)


def false_kinds(r, sightings, truth):
    """Splits a walk's false sightings into doubles (within DOUBLE_M of a true camera
    the walk found: a second sighting of it, counting those of another type) and the
    rest (nothing found near)."""
    found = {x["truth"] for x in r.get("matches") or []}
    cams = [(ft["geometry"]["coordinates"], ft["properties"].get("type")) for ft in truth["features"]
            if ft["properties"].get("id") in found]
    false = set(r.get("false_ids") or [])
    doubles = other = elsewhere = 0
    for ft in sightings["features"]:
        if ft["properties"].get("id") not in false:
            continue
        at = ft["geometry"]["coordinates"]
        near = min(cams, key=lambda c: metres(c[0], at), default=None)
        if near and metres(near[0], at) <= DOUBLE_M:
            doubles += 1
            other += near[1] != ft["properties"].get("type")
        else:
            elsewhere += 1
    return doubles, other, elsewhere


BOXED_FRAMES = 10  # frames a camera must be boxed in to count as boxed often


def iou(a, b):
    iw, ih = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def detections_of(name):
    """The run's detections of a walk by frame (those the replay used: the
    recording's at the threshold given, or what the verifier kept of them),
    or None without a recording."""
    det = os.environ["DETECTOR"]
    path = os.path.join(out, name + ".detections.jsonl")
    if det == "recorded" and not os.path.exists(path):
        path = os.path.join(os.environ["DETS"], name + ".detections.jsonl")
    if det == "truth" or not os.path.exists(path):
        return None
    thr = float(os.environ["THR"] or 0)
    frames = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if "frame" in o:
                frames[o["frame"]] = [d for d in o.get("detections") or [] if d["score"] >= thr]
    return frames


def boxed_often(cams, views, dets):
    """Of cams, those the detector boxed with their own type (IoU >= 0.3) in at
    least BOXED_FRAMES frames in which they were 16 px or larger (views, from
    seen_cameras): cameras that tracking and location lost, not the detector."""
    out = set()
    for c in cams:
        k = sum(1 for frame, typ, box in views.get(c, ())
                if any(d["type"] == typ and iou(d["box"], box) >= 0.3 for d in dets.get(frame, [])))
        if k >= BOXED_FRAMES:
            out.add(c)
    return out


def missed_kinds(r, seen, largest, sightings, truth):
    """Sorts the seen cameras the walk missed: those with a false sighting within
    DOUBLE_M (a sighting of it placed too far off, or of another type beside it), and
    the rest by the largest box the camera had in the walk (< 16, 16-32, >= 32 px):
    the detector's size limit, or tracking and location."""
    false = set(r.get("false_ids") or [])
    fpos = [ft["geometry"]["coordinates"] for ft in sightings["features"] if ft["properties"].get("id") in false]
    at = {ft["properties"].get("id"): ft["geometry"]["coordinates"] for ft in truth["features"]}
    k = {"missed_seen_false_near": 0, "missed_seen_lt16": 0, "missed_seen_16to32": 0, "missed_seen_ge32": 0}
    for cid in r.get("missed_ids") or []:
        if cid not in seen:
            continue
        if any(metres(p, at[cid]) <= DOUBLE_M for p in fpos):
            k["missed_seen_false_near"] += 1
        elif largest[cid] < 16:
            k["missed_seen_lt16"] += 1
        elif largest[cid] < 32:
            k["missed_seen_16to32"] += 1
        else:
            k["missed_seen_ge32"] += 1
    return k


rows, errs = [], []
for d in dirs:
    name = os.path.basename(d)
    r = json.load(open(os.path.join(out, name + ".json")))
    meta = json.load(open(os.path.join(d, "walk.json")))
    log = open(os.path.join(out, name + ".log")).read()
    m = re.search(r"([\d.]+) frames/s", log)
    seen, largest, views = seen_cameras(d)
    matched_seen = sum(1 for x in r.get("matches") or [] if x["truth"] in seen)
    errs += [x["error_m"] for x in r.get("matches") or []]
    sightings = json.load(open(os.path.join(out, name + ".geojson")))
    truth = json.load(open(os.path.join(d, "truth.geojson")))
    doubles, other, elsewhere = false_kinds(r, sightings, truth)
    missed = missed_kinds(r, seen, largest, sightings, truth)
    dets = detections_of(name)
    missed["missed_seen_boxed_often"] = None if dets is None else len(
        boxed_often(set(r.get("missed_ids") or []) & seen, views, dets))
    rows.append({"walk": name, "size": f"{meta['width']}x{meta['height']}", "lighting": meta.get("lighting"),
                 "truth": r["truth"], "seen": len(seen), "found": r["found"], "matched": r["matched"],
                 "matched_seen": matched_seen, "precision": r["precision"], "recall": r["recall"],
                 "recall_seen": matched_seen / len(seen) if seen else 0.0,
                 "count_error": r["count_error"],
                 "count_error_seen": abs(r["found"] - len(seen)) / len(seen) if seen else 0.0,
                 "median_error_m": r["median_error_m"], "frames_per_s": float(m.group(1)) if m else None,
                 "false_doubles": doubles, "false_doubles_other_type": other, "false_elsewhere": elsewhere,
                 **missed})
t = sum(x["truth"] for x in rows); sn = sum(x["seen"] for x in rows)
f = sum(x["found"] for x in rows); mt = sum(x["matched"] for x in rows); ms = sum(x["matched_seen"] for x in rows)
pooled = {"walks": len(rows), "truth": t, "seen": sn, "found": f, "matched": mt, "matched_seen": ms,
          "precision": mt / f if f else 0.0, "recall": mt / t if t else 0.0, "recall_seen": ms / sn if sn else 0.0,
          "count_error_mean": statistics.mean(x["count_error"] for x in rows),
          "count_error_seen_mean": statistics.mean(x["count_error_seen"] for x in rows),
          "median_error_m": statistics.median(errs) if errs else None,
          "false_doubles": sum(x["false_doubles"] for x in rows),
          "false_doubles_other_type": sum(x["false_doubles_other_type"] for x in rows),
          "false_elsewhere": sum(x["false_elsewhere"] for x in rows), "double_m": DOUBLE_M,
          **{k: sum(x[k] for x in rows) for k in missed if k != "missed_seen_boxed_often"},
          "missed_seen_boxed_often": (None if any(x["missed_seen_boxed_often"] is None for x in rows)
                                      else sum(x["missed_seen_boxed_often"] for x in rows)),
          "seen_rule": {"min_frames": min_frames, "min_px": min_px, "min_visible": 0.3}}
json.dump({"walks": rows, "pooled": pooled}, open(os.path.join(out, "summary.json"), "w"), indent=1)
print(f"{'walk':<11} {'size':<9} {'light':<8} {'true':>4} {'seen':>4} {'found':>5} {'P':>5} {'R':>5} "
      f"{'R seen':>6} {'count':>6} {'c seen':>6} {'median':>7} {'fps':>5}")
for x in rows:
    fps = f"{x['frames_per_s']:.1f}" if x["frames_per_s"] else "-"
    med = f"{x['median_error_m']:.2f}m" if x["matched"] else "-"
    print(f"{x['walk']:<11} {x['size']:<9} {x['lighting'] or '-':<8} {x['truth']:>4} {x['seen']:>4} {x['found']:>5} "
          f"{x['precision']:>5.2f} {x['recall']:>5.2f} {x['recall_seen']:>6.2f} {100 * x['count_error']:>5.1f}% "
          f"{100 * x['count_error_seen']:>5.1f}% {med:>7} {fps:>5}")
med = f"{pooled['median_error_m']:.2f} m" if pooled["median_error_m"] is not None else "-"
print(f"pooled over {len(rows)} walks: {f} sightings, {f - mt} false: precision {pooled['precision']:.3f}; "
      f"recall {pooled['recall']:.3f} of all {t} cameras, {pooled['recall_seen']:.3f} of the {sn} seen "
      f"(>= {min_frames} frames, >= {min_px:g} px, >= 30 % visible); mean count error "
      f"{100 * pooled['count_error_mean']:.1f} % (all), {100 * pooled['count_error_seen_mean']:.1f} % (seen); "
      f"median position error {med}")
print(f"false sightings: {pooled['false_doubles']} within {DOUBLE_M:g} m of a camera the walk found (a second "
      f"sighting of it; {pooled['false_doubles_other_type']} of another type), {pooled['false_elsewhere']} elsewhere")
print(f"seen cameras missed: {sn - ms}: {pooled['missed_seen_false_near']} with a false sighting within "
      f"{DOUBLE_M:g} m; of the rest, the largest box in the walk < 16 px: {pooled['missed_seen_lt16']}, "
      f"16-32 px: {pooled['missed_seen_16to32']}, >= 32 px: {pooled['missed_seen_ge32']}"
      + ("" if pooled["missed_seen_boxed_often"] is None else
         f"; {pooled['missed_seen_boxed_often']} of the {sn - ms} boxed with their own type in >= {BOXED_FRAMES} "
         "frames at >= 16 px (lost by tracking and location, not by the detector)"))
print(f"(summary: {out}/summary.json)")
PYEOF
