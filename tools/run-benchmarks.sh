#!/usr/bin/env bash
# Runs the benchmarks of benchmarks/ one after the other, as the README's
# table was measured: each script's whole output goes to
# benchmark-logs/<n>-<script>.log (LOG_DIR), its PASS/FAIL lines to the
# terminal.  Exits 1 when any target was missed or a script failed.
# Arguments name the scripts to run (e.g. planner snapshot_build); none
# runs them all but gpu_device_check, which needs an NVIDIA GPU.
# The collector and ingest benchmarks start Debian's rabbitmq-server and
# postgresql, which tools/run-tests.sh installs.
set -euo pipefail
EXTRA_REQUIREMENTS="$(dirname "$0")/../test-requirements.txt"
# shellcheck source=SCRIPTDIR/setup-env.sh
source "$(dirname "$0")/setup-env.sh"
cd "$ROOT"
LOG_DIR=${LOG_DIR:-$ROOT/benchmark-logs}
mkdir -p "$LOG_DIR"

ALL="collector_cost --runs 3
collector_cost --no-mining --runs 3 --rabbit
ingest_rate --runs 3
ingest_rate --postgresql --skip-in-process --skip-end-to-end --runs 3
scheduler_overhead
planner
simulate_planetlab
simulate_seeds
snapshot_build
load_estimator"

missed=0
n=0
while read -r script args; do
    if [ "$#" -gt 0 ] && [[ " $* " != *" $script "* ]]; then
        continue
    fi
    n=$((n + 1))
    log="$LOG_DIR/$n-$script.log"
    echo "== $script${args:+ $args}: $(date -u +%H:%M:%S) UTC, load average" \
        "$(cut -d' ' -f1-3 /proc/loadavg); log in $log"
    # Word splitting of the arguments is meant.
    # shellcheck disable=SC2086
    if ! "$VENV/bin/python" "benchmarks/$script.py" $args \
            </dev/null >"$log" 2>&1; then
        missed=1
    fi
    grep -E '^(PASS|FAIL) ' "$log" || tail -n 5 "$log"
done <<<"$ALL"
if [ "$n" -eq 0 ]; then
    echo "no benchmark named $*; the scripts are:" \
        "$(cut -d' ' -f1 <<<"$ALL" | sort -u | tr '\n' ' ')" >&2
    exit 2
fi
exit "$missed"
