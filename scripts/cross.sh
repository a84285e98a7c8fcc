#!/usr/bin/env bash
# cross.sh build|test|env ARCH: cross-compile camaudit for the Raspberry Pi
# from x86-64, or run package tests as ARCH binaries under qemu-user.
#
#   scripts/cross.sh build arm64   # make pi:        build/arm64/{camaudit,camaudit-hub}
#   scripts/cross.sh build armhf   # make pi-armhf:  build/armhf/{camaudit,camaudit-hub} (GOARM=7)
#   scripts/cross.sh test arm64    # make test-arm64: go test -exec qemu-aarch64-static
#   scripts/cross.sh env arm64     # print the environment, for `eval` in a shell
#
# cgo compiles with Debian's cross toolchain (gcc-aarch64-linux-gnu; its own
# libc headers and crt files) and links gocv against the OpenCV libraries
# unpacked from Debian's ARCH .debs in build/sysroot-ARCH (scripts/sysroot.sh).
# gocv's `customenv` build tag turns off its `pkg-config: opencv4` line, so the
# flags come from CGO_CPPFLAGS/CGO_LDFLAGS below; -rpath-link lets ld resolve
# the libraries OpenCV itself needs from the same root.
#
# Environment: LDFLAGS (go -ldflags, the Makefile passes version and commit),
# PKGS (packages for `test`, default below), TESTFLAGS (go test flags; default
# -short, which gives the people guard test two samples instead of seven:
# OpenCV runs some 40x slower emulated; TESTFLAGS= runs them all).
set -euo pipefail

action=${1:?usage: cross.sh build|test|env ARCH}
arch=${2:-arm64}
case "$arch" in
  arm64) triplet=aarch64-linux-gnu;   goarch=arm64; goarm=;  qemu=qemu-aarch64-static ;;
  armhf) triplet=arm-linux-gnueabihf; goarch=arm;   goarm=7; qemu=qemu-arm-static ;;
  *) echo "cross: unknown architecture \"$arch\" (want arm64 or armhf)" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
sysroot=$build/sysroot-$arch
out=$build/$arch
cd "$root"

for tool in "$triplet-gcc" "$triplet-g++" "$qemu" go file; do
  command -v "$tool" >/dev/null || {
    echo "cross: $tool not found: run make setup (it installs the cross toolchains and qemu-user-static)" >&2; exit 1; }
done

"$root/scripts/sysroot.sh" "$arch" >&2

# The OpenCV modules gocv v0.31's main package uses (core .. photo), flann for features2d.
opencv_libs="-lopencv_dnn -lopencv_objdetect -lopencv_calib3d -lopencv_features2d -lopencv_flann \
-lopencv_video -lopencv_videoio -lopencv_highgui -lopencv_imgcodecs -lopencv_photo -lopencv_imgproc -lopencv_core"

export CGO_ENABLED=1 GOOS=linux GOARCH=$goarch CC=$triplet-gcc CXX=$triplet-g++
[ -n "$goarm" ] && export GOARM=$goarm
opencv_cppflags="-I$sysroot/usr/include/opencv4"
rpath_link=""
for d in usr/lib/$triplet lib/$triplet usr/lib lib; do rpath_link+=" -Wl,-rpath-link,$sysroot/$d"; done
opencv_ldflags="-L$sysroot/usr/lib/$triplet$rpath_link -Wl,--as-needed $opencv_libs"
export CROSS_QEMU=$qemu CROSS_SYSROOT=$sysroot

case "$action" in
env)
  echo "export CGO_ENABLED=1 GOOS=linux GOARCH=$goarch${goarm:+ GOARM=$goarm} CC=$triplet-gcc CXX=$triplet-g++"
  echo "export CGO_CPPFLAGS='$opencv_cppflags' CGO_LDFLAGS='$opencv_ldflags'"
  echo "export GOFLAGS=-tags=customenv CROSS_QEMU=$qemu CROSS_SYSROOT=$sysroot"
  echo "# run an $arch binary: $qemu -L $sysroot BINARY"
  ;;
build)
  mkdir -p "$out"
  echo "cross: building camaudit for linux/$goarch${goarm:+ GOARM=$goarm} (cgo: $triplet-gcc, OpenCV from $sysroot)" >&2
  CGO_CPPFLAGS="$opencv_cppflags" CGO_LDFLAGS="$opencv_ldflags" \
    go build -tags customenv -trimpath -ldflags "${LDFLAGS:-}" -o "$out/camaudit" ./cmd/camaudit
  echo "cross: building camaudit-hub for linux/$goarch (cgo for h3 only, no OpenCV)" >&2
  go build -trimpath -ldflags "${LDFLAGS:-}" -o "$out/camaudit-hub" ./cmd/camaudit-hub
  for b in camaudit camaudit-hub; do
    file "$out/$b"
  done
  # Prove the binaries start on the target ABI: run them under qemu-user with
  # the Debian root as their / for libraries.
  echo "cross: checking the binaries under $qemu -L $sysroot" >&2
  "$qemu" -L "$sysroot" "$out/camaudit" version
  "$qemu" -L "$sysroot" "$out/camaudit-hub" version
  ;;
test)
  # Packages whose tests make sense on the device; those absent are left out.
  want=${PKGS:-./wire/... ./geo/... ./gnss/... ./detect/... ./firmware/... ./hw/... ./internal/brokertest/...}
  pkgs=()
  for p in $want; do
    d=${p%/...}
    [ -d "$d" ] && pkgs+=("$p")
  done
  echo "cross: testing ${pkgs[*]} as linux/$goarch binaries under $qemu -L $sysroot" >&2
  # shellcheck disable=SC2086
  CGO_CPPFLAGS="$opencv_cppflags" CGO_LDFLAGS="$opencv_ldflags" \
    go test -tags customenv -count=1 -timeout 120m -exec "$root/scripts/cross-exec.sh" ${TESTFLAGS--short} "${pkgs[@]}"
  ;;
*)
  echo "cross: unknown action \"$action\" (want build, test or env)" >&2; exit 2 ;;
esac
