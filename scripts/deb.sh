#!/usr/bin/env bash
# deb.sh [--out DIR] [TARGET...]: build Debian packages with nfpm.
#
# Targets (default: device-arm64 hub-amd64 hub-arm64):
#   device-arm64  camaudit for Raspberry Pi OS 64-bit: build/arm64/camaudit (make pi),
#                 the unit, the model bundles in models/, the Pi guide
#   device-armhf  the same for 32-bit Raspberry Pi OS (make pi-armhf)
#   hub-amd64     camaudit-hub for a Debian server, built here natively
#   hub-arm64     camaudit-hub for a Pi or an arm64 server: build/arm64/camaudit-hub (make pi)
#
# Packages land in build/deb/ (or DIR), each checked with dpkg-deb --info.
# nfpm is the one `make setup` installs (go install ...nfpm@v2.45.2); without
# it, `go run` fetches and builds that version (go.mod is not touched).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=build/deb
if [ "${1:-}" = --out ]; then
  out=${2:?--out needs a folder}
  shift 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(device-arm64 hub-amd64 hub-arm64)
mkdir -p "$out"
out=$(cd "$out" && pwd)

nfpm_version=v2.45.2
if command -v nfpm >/dev/null; then
  nfpm=(nfpm)
elif [ -x "$(go env GOPATH)/bin/nfpm" ]; then
  nfpm=("$(go env GOPATH)/bin/nfpm")
else
  echo "deb: nfpm not installed (make setup installs it); using go run ...@$nfpm_version" >&2
  nfpm=(go run "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version")
fi

# Debian versions must start with a digit: a tag v1.2.3 gives 1.2.3, an
# untagged commit 0.0~git<commit time>.<hash>.
if tag=$(git describe --tags --exact-match 2>/dev/null); then
  version=${tag#v}
elif sha=$(git rev-parse --short HEAD 2>/dev/null); then
  version="0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S).$sha"
else
  version=0.0~dev
fi
version=${VERSION_OVERRIDE:-$version}
ldflags="-X main.version=$version -X main.commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# The model bundles go to /usr/share/camaudit/models/ (contract A's install
# path); an empty models/ still gives the folder.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/models"
if compgen -G "models/*/model.yaml" >/dev/null; then
  for m in models/*/; do
    [ -f "$m/model.yaml" ] && cp -r "$m" "$stage/models/"
  done
fi
[ -n "$(ls -A "$stage/models")" ] || echo "Model bundles go here (camaudit-cams-v1/model.onnx + model.yaml)." >"$stage/models/README"

need() {
  [ -x "$1" ] || { echo "deb: $1 missing: run $2 first" >&2; exit 1; }
}

package() { # package NAME NFPM_ARCH BIN
  local name=$1 arch=$2 bin=$3
  echo "deb: packaging $name for $arch from $bin" >&2
  ARCH=$arch VERSION=$version BIN=$bin STAGE=$stage \
    "${nfpm[@]}" pkg --config "deploy/nfpm/$name.yaml" --packager deb --target "$out/" >&2
}

for target in "${targets[@]}"; do
  case "$target" in
    device-arm64) need build/arm64/camaudit "make pi"; package camaudit arm64 build/arm64/camaudit ;;
    device-armhf) need build/armhf/camaudit "make pi-armhf"; package camaudit arm7 build/armhf/camaudit ;;
    hub-arm64)    need build/arm64/camaudit-hub "make pi"; package camaudit-hub arm64 build/arm64/camaudit-hub ;;
    hub-amd64)
      [ "$(go env GOARCH)" = amd64 ] || { echo "deb: hub-amd64 is built natively on an amd64 machine" >&2; exit 1; }
      echo "deb: building camaudit-hub for linux/amd64" >&2
      go build -ldflags "$ldflags" -o "$stage/camaudit-hub-amd64" ./cmd/camaudit-hub
      package camaudit-hub amd64 "$stage/camaudit-hub-amd64" ;;
    *) echo "deb: unknown target \"$target\" (device-arm64, device-armhf, hub-amd64, hub-arm64)" >&2; exit 2 ;;
  esac
done

for deb in "$out"/*_"$version"_*.deb; do
  [ -e "$deb" ] || continue
  echo "== $deb"
  dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\|Installed-Size\):/  \1:/p'
done
