#!/usr/bin/env bash
# make demo: the main job end to end on embedded defaults, on this machine only.
#   1. simulate a volunteer's walk past 23 cameras (camaudit sim walk, street20)
#   2. start a throwaway Mosquitto and the campaign hub on free loopback ports
#   3. run the device firmware on the recording (camaudit replay), publishing over MQTT
#   4. score the result against the simulator's ground truth (camaudit eval walk)
#   5. print the map URL; keep serving until Ctrl-C when run from a terminal
# Everything lives under build/demo/; nothing leaves 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
cam=build/camaudit
hub=build/camaudit-hub
scenario=${DEMO_SCENARIO:-sim/testdata/street20.yaml}
mkdir -p "$out"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
waitport() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "demo: nothing listens on port $1" >&2; return 1; }

echo "== 1/5 simulating a walk: $scenario"
if [ ! -f "$out/walk/walk.avi" ] || [ "$scenario" -nt "$out/walk/walk.avi" ] || [ "$cam" -nt "$out/walk/walk.avi" ]; then
  rm -rf "$out/walk"
  "$cam" sim walk --scenario "$scenario" --out "$out/walk"
else
  echo "demo: reusing $out/walk (delete it to render again)"
fi

echo "== 2/5 starting Mosquitto and the hub"
mport=$(freeport); hport=$(freeport)
rm -rf "$out/mosquitto" "$out/hub.db"* "$out/journal"
mkdir -p "$out/mosquitto"
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 1000\npersistence false\n' "$mport" > "$out/mosquitto/mosquitto.conf"
mosquitto -c "$out/mosquitto/mosquitto.conf" >"$out/mosquitto/log" 2>&1 & pids+=($!)
waitport "$mport"
head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$out/review-token"
"$hub" serve --broker "tcp://127.0.0.1:$mport" --db "$out/hub.db" --http "127.0.0.1:$hport" \
  --client-id camaudit-hub-demo --token-file "$out/review-token" >"$out/hub.log" 2>&1 & pids+=($!)
waitport "$hport"
echo "demo: broker tcp://127.0.0.1:$mport, hub http://127.0.0.1:$hport (logs in $out/)"

echo "== 3/5 running the firmware on the recording"
detector=()
if [ -f models/camaudit-cams-v1/model.onnx ]; then
  echo "demo: detector: the shipped model models/camaudit-cams-v1"
else
  echo "demo: no shipped model yet (make model); using the simulator's truth boxes as the detector"
  detector=(--truth "$out/walk/frames.jsonl")
fi
"$cam" replay --video "$out/walk/walk.avi" --nmea "$out/walk/track.nmea" --device demo-pi \
  --broker "tcp://127.0.0.1:$mport" --journal "$out/journal" --out "$out/sightings.geojson" "${detector[@]}"

echo "== 4/5 scoring against the simulator's ground truth"
"$cam" eval walk --truth "$out/walk/truth.geojson" --sightings "$out/sightings.geojson"

echo "== 5/5 what the hub has"
want=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["features"]))' "$out/sightings.geojson")
for _ in $(seq 100); do
  got=$(curl -fsS "http://127.0.0.1:$hport/api/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cameras"])')
  [ "$got" -ge "$want" ] && break
  sleep 0.1
done
echo "demo: the device confirmed $want cameras; the hub's registry holds $got"
curl -fsS "http://127.0.0.1:$hport/api/stats" | python3 -c '
import json, sys
st = json.load(sys.stdin)
print("hub: %d cameras; by type %s; by status %s" % (st["cameras"],
      json.dumps(st.get("cameras_by_type", {}), sort_keys=True), json.dumps(st.get("cameras_by_status", {}), sort_keys=True)))
print("hub: accepted messages %s" % json.dumps(st.get("accepted_messages", {}), sort_keys=True))'

echo
echo "Map:          http://127.0.0.1:$hport/"
echo "Review page:  http://127.0.0.1:$hport/review.html (token in $out/review-token)"
echo "Exports:      http://127.0.0.1:$hport/export/cameras.geojson | .csv | .osm"
if [ -t 0 ] && [ "${DEMO_SERVE:-1}" != 0 ]; then
  echo "Serving until Ctrl-C."
  wait "${pids[1]}"
else
  echo "demo: done (not a terminal, or DEMO_SERVE=0: stopping the hub and the broker)"
fi
