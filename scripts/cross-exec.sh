#!/bin/sh
# cross-exec.sh BINARY [ARGS]: the `go test -exec` program of scripts/cross.sh.
# Runs a foreign-architecture binary under qemu-user with the unpacked Debian
# root as its library root (-L). The cross toolchain's own libc
# (/usr/aarch64-linux-gnu) is NOT a usable -L: cgo binaries hang with it.
# Processes the binary starts (mosquitto, gpsd, ...) are the host's own and
# run natively.
# GStreamer scans its plugins in a helper process (gst-plugin-scanner), a
# foreign binary the kernel cannot start without binfmt_misc: scan in-process.
export GST_REGISTRY_FORK=no
exec "${CROSS_QEMU:?set by scripts/cross.sh}" -L "${CROSS_SYSROOT:?set by scripts/cross.sh}" "$@"
