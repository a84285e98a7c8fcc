#!/usr/bin/env bash
# make setup: install everything camaudit needs to build, test and run its
# demo on Debian bookworm (run as root). Idempotent: packages already present
# are not fetched again, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, one purpose per line.
PKGS=(
  build-essential pkg-config git ca-certificates curl   # toolchain
  libopencv-dev opencv-data opencv-doc                   # OpenCV 4.6 for gocv; cascades; test media with people
  mosquitto mosquitto-clients                            # MQTT broker for tests and small deployments
  gpsd gpsd-clients                                      # gpsd and gpsfake for GNSS tests
  gstreamer1.0-plugins-base                              # GStreamer camera source test (videotestsrc, appsink)
  python3 python3-torch python3-numpy python3-opencv python3-onnx python3-yaml  # model training
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static                  # make pi / make test-arm64
  gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf                              # make pi-armhf
  chromium                                               # headless browser test of the web map
  gdal-bin osmium-tool sqlite3                           # checks of the hub's exports
  postgresql                                             # hub store tests against PostgreSQL
  nodejs                                                 # npm for the web map's Leaflet
  time                                                   # /usr/bin/time for peak RSS in benchmarks
  systemd file                                           # systemd-analyze checks of the units; file(1) in make pi
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: run as root (it installs Debian packages): sudo make setup" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: Debian packages already installed"
fi
command -v npm >/dev/null || { echo "setup: npm not found (install Node.js 20 with npm)" >&2; exit 1; }

echo "setup: Go modules"
go mod download

# nfpm builds the .deb packages (make deb, and the hub package test in make test).
nfpm_version=v2.45.2
if ! go version -m "$(go env GOPATH)/bin/nfpm" 2>/dev/null | grep -q "nfpm/v2[[:space:]]*$nfpm_version"; then
  echo "setup: nfpm $nfpm_version"
  GOFLAGS= go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
else
  echo "setup: nfpm $nfpm_version already installed"
fi

if [ -f hub/web/package.json ]; then
  echo "setup: npm packages for the web map"
  (cd hub/web && if [ -d node_modules ] && [ node_modules -nt package-lock.json ]; then echo "setup: node_modules up to date"; else npm ci --no-audit --no-fund; fi)
fi

echo "setup: done ($(go version | cut -d' ' -f3), OpenCV $(pkg-config --modversion opencv4), $(mosquitto -h 2>/dev/null | head -1))"
