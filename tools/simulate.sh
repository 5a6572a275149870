#!/usr/bin/env bash
# Main job on embedded defaults: replay a seeded synthetic mining day
# (300 instances: CPU, GPU and ASIC miners, tenants) on a simulated fleet
# of CPU, GPU and ASIC hosts (hot GPU rows; miners that die, sag and err
# now and then) under each placement policy (nova's spreading and metrics
# weigher, ours with and without re-planning, a Watcher-like baseline),
# print the comparison table, and write the JSON report and plots to
# simulation-report/.  Arguments are passed to the simulator (try
# --help), e.g. --trace-format planetlab --trace DIR.
set -euo pipefail
# shellcheck source=SCRIPTDIR/setup-env.sh
source "$(dirname "$0")/setup-env.sh"
exec "$VENV/bin/python" -m cryptomine_scheduler.simulator "$@"
