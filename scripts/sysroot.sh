#!/usr/bin/env bash
# sysroot.sh ARCH: unpack a Debian bookworm root for ARCH (arm64 | armhf) under
# build/sysroot-ARCH holding what the cross build and qemu-user need:
#   - the OpenCV 4.6 runtime libraries gocv links (libopencv-*406) and their
#     whole dependency closure, libc6 and ld.so included (qemu -L needs them);
#   - the OpenCV headers and .so links of the matching -dev packages.
#
# Nothing is installed on the host: apt runs with a private state directory
# (build/apt-ARCH: package lists, an empty dpkg status, the .deb cache) and
# APT::Architecture=ARCH, and only downloads; the .debs are unpacked with
# dpkg-deb -x. The host's dpkg database, its foreign architectures and its
# native -dev packages are untouched. apt uses the host's Debian sources
# (/etc/apt/sources.list[.d]) and apt.conf.d (proxies), so it fetches from the
# same mirror as `apt-get install` does.
#
# The result is cached: a second run with the same package list returns at once.
# FORCE=1 rebuilds it (the downloaded .debs are kept and reused).
set -euo pipefail

arch=${1:-arm64}
case "$arch" in
  arm64) triplet=aarch64-linux-gnu ;;
  armhf) triplet=arm-linux-gnueabihf ;;
  *) echo "sysroot: unknown architecture \"$arch\" (want arm64 or armhf)" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
sysroot=$build/sysroot-$arch
aptdir=$build/apt-$arch

# The OpenCV modules gocv v0.31's main package links (see scripts/cross.sh),
# as runtime packages, and their -dev packages for headers and .so links.
modules=(core imgproc imgcodecs videoio highgui objdetect dnn video features2d calib3d photo flann)
# GStreamer's base plugins (videotestsrc, videoconvert, appsink) let the camera
# source tests run under qemu as they do natively.
runtime=(libc6 libstdc++6 libgcc-s1 gstreamer1.0-plugins-base)
dev=()
for m in "${modules[@]}"; do
  runtime+=("libopencv-$m""406")
  dev+=("libopencv-$m-dev")
done
# opencv2/opencv.hpp (which gocv includes) also includes the ml and stitching
# headers; they are compiled against, never linked.
dev+=(libopencv-ml-dev libopencv-stitching-dev)

# Bump when the way the sysroot is made changes, so caches are rebuilt.
recipe=5
want="recipe=$recipe arch=$arch runtime=${runtime[*]} dev=${dev[*]}"
stamp=$sysroot/.camaudit-sysroot
if [ -z "${FORCE:-}" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "sysroot: $sysroot is up to date ($(du -sh "$sysroot" | cut -f1))"
  exit 0
fi

for tool in apt-get dpkg-deb readelf; do
  command -v "$tool" >/dev/null || { echo "sysroot: $tool not found (run make setup)" >&2; exit 1; }
done

mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$aptdir/dpkg"
touch "$aptdir/dpkg/status"
apt=(apt-get -q
  -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
  -o "Dir::State=$aptdir" -o "Dir::State::lists=$aptdir/lists"
  -o "Dir::State::status=$aptdir/dpkg/status"
  -o "Dir::Cache=$aptdir" -o "Dir::Cache::archives=$aptdir/archives"
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache="
  -o "APT::Sandbox::User=root" -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
  -o "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false"
  -o "APT::Install-Recommends=false" -o "APT::Get::Assume-Yes=true")

# Refresh the private package lists at most once a day.
if [ -z "$(find "$aptdir/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  echo "sysroot: fetching the $arch package lists (private apt state in $aptdir)"
  # A mirror in mid-sync answers with a wrong size now and then: retry.
  for try in 1 2 3; do
    "${apt[@]}" update && break
    if [ "$try" -eq 3 ]; then
      # Go on with the lists that did arrive, as long as bookworm main did:
      # packages then come in the version those lists name.
      ls "$aptdir"/lists/*_bookworm_main_binary-"${arch}"_Packages* >/dev/null 2>&1 || {
        echo "sysroot: apt-get update for $arch failed 3 times" >&2; exit 1; }
      echo "sysroot: warning: some $arch package lists failed to download 3 times; going on with those that arrived" >&2
      break
    fi
    echo "sysroot: apt-get update failed (try $try of 3), retrying in 20 s" >&2
    sleep 20
  done
fi

echo "sysroot: resolving and downloading ${#runtime[@]} runtime packages and their dependencies for $arch"
"${apt[@]}" install --download-only "${runtime[@]}"
echo "sysroot: downloading ${#dev[@]} OpenCV -dev packages (headers and .so links only)"
(cd "$aptdir/archives" && "${apt[@]}" download "${dev[@]}")

debs=("$aptdir"/archives/*.deb)
tmp=$sysroot.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
n=0
for deb in "${debs[@]}"; do
  n=$((n + 1))
  if [ -t 2 ]; then
    printf '\rsysroot: unpacking %d/%d %-60s' "$n" "${#debs[@]}" "$(basename "$deb")" >&2
  elif [ $((n % 50)) -eq 0 ] || [ "$n" -eq ${#debs[@]} ]; then
    echo "sysroot: unpacked $n/${#debs[@]} packages" >&2
  fi
  dpkg-deb -x "$deb" "$tmp"
done
[ -t 2 ] && printf '\n' >&2

# dpkg-deb -x runs no maintainer scripts, so do what matters of them:
# 1. absolute symlinks point into the host; make them relative inside the root.
while IFS= read -r -d '' link; do
  target=$(readlink "$link")
  case "$target" in
    /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$tmp$target")" "$link" ;;
  esac
done < <(find "$tmp" -type l -print0)

# 2. update-alternatives and ld.so.conf.d: libraries outside the default search
#    path (e.g. libblas.so.3 in /usr/lib/TRIPLET/blas) get a link in
#    /usr/lib/TRIPLET, where ld.so, ld and qemu -L look.
libdirs=("$tmp/lib/$triplet" "$tmp/usr/lib/$triplet" "$tmp/lib" "$tmp/usr/lib")
have() { for d in "${libdirs[@]}"; do [ -e "$d/$1" ] && return 0; done; return 1; }
# (readelf fails on the few .so files that are linker scripts: ignore those.)
needed=$( (find "$tmp" -type f \( -name '*.so' -o -name '*.so.*' \) -print0 |
  xargs -0 readelf -d 2>/dev/null || true) | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
missing=()
for so in $needed; do
  have "$so" && continue
  found=$(find "$tmp" -name "$so" \( -type f -o -type l \) | head -1)
  if [ -n "$found" ]; then
    ln -sfn "$(realpath -m --relative-to="$tmp/usr/lib/$triplet" "$found")" "$tmp/usr/lib/$triplet/$so"
  else
    missing+=("$so")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "sysroot: warning: libraries needed but not in the root (plugins may not load): ${missing[*]}" >&2
fi

# 3. gocv links opencv_* without version: the -dev packages ship the .so links.
for m in "${modules[@]}"; do
  [ -e "$tmp/usr/lib/$triplet/libopencv_$m.so" ] || {
    echo "sysroot: libopencv_$m.so missing from $tmp/usr/lib/$triplet" >&2; exit 1; }
done
[ -f "$tmp/usr/include/opencv4/opencv2/core.hpp" ] || { echo "sysroot: OpenCV headers missing" >&2; exit 1; }

echo "$want" >"$tmp/.camaudit-sysroot"
rm -rf "$sysroot"
mv "$tmp" "$sysroot"
echo "sysroot: $sysroot ready: ${#debs[@]} packages, $(du -sh "$sysroot" | cut -f1)"
