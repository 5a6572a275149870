#!/usr/bin/env bash
# Main job on embedded defaults: replay a seeded synthetic mining day
# (300 instances: CPU, GPU and ASIC miners, tenants) on a simulated fleet
# of CPU, GPU and ASIC hosts (hot GPU rows; miners that die, sag and err
# now and then) under each placement policy (nova's spreading and metrics
# weigher, ours with and without re-planning, Watcher's audit as its
# code runs), print the comparison table, and write the JSON report and
# plots to simulation-report/; then a day with a peak that needs rented burst
# capacity (--scenario burst-peak, adding the burst-aware policy and
# the burst columns), its report in simulation-report/burst-peak/.
# Arguments run one comparison instead (try --help), e.g.
# --trace-format planetlab --trace DIR.
set -euo pipefail
# shellcheck source=SCRIPTDIR/setup-env.sh
source "$(dirname "$0")/setup-env.sh"
if [ "$#" -gt 0 ]; then
    exec "$VENV/bin/python" -m cryptomine_scheduler.simulator "$@"
fi
"$VENV/bin/python" -m cryptomine_scheduler.simulator
echo
echo "A day with a peak past home capacity, with rented burst hosts:"
exec "$VENV/bin/python" -m cryptomine_scheduler.simulator \
    --scenario burst-peak --output simulation-report/burst-peak
