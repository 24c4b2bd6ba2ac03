#!/usr/bin/env bash
# The notebook probes (bench/vram_accuracy/*_probe.py) on the GPU machine, one process each under a time limit, after
# unsloth_env.sh has installed the wheels. Each probe's output goes to $OUT/probe-K.txt and its last line (the probe's
# one JSON object) is printed.
# Usage (repo root): OUT=/some/dir bash bench/vram_calibration/run_probes.sh SECONDS "PROBE [ARGS]" ["PROBE [ARGS]" ...]
#   e.g. bash bench/vram_calibration/run_probes.sh 280 vision_notebook_probe.py "vision_notebook_probe.py --resize max"
set -u -o pipefail
LIMIT=$1; shift
source bench/vram_calibration/unsloth_env.sh
k=0
for probe in "$@"; do
  k=$((k + 1)); log="$OUT/probe-$k.txt"; start=$(date +%s)
  # shellcheck disable=SC2086  # the probe's name and its flags, split on purpose
  timeout "$LIMIT" python3 bench/vram_accuracy/$probe > "$log" 2>&1
  echo "[probe $k] $probe: rc=$? in $(( $(date +%s) - start )) s"
  tail -n 1 "$log" | cut -c1-2000
done
