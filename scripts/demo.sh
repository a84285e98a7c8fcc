#!/usr/bin/env bash
# make demo: the main job on embedded defaults. Until every piece has landed it
# runs what exists and says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo: camaudit $(build/camaudit version | head -1 | cut -d' ' -f2)"
build/camaudit version
build/camaudit-hub version
echo "demo: the simulator, firmware and hub are not wired in yet"
