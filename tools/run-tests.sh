#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: installs RabbitMQ,
# PostgreSQL, etcd, OpenIPMI's BMC simulator, Prometheus (for promtool)
# and the shell linter from Debian's packages (the tests start private
# brokers, database clusters, etcd servers and BMCs on 127.0.0.1 and
# stop them, run the alerting rules through promtool, and lint the shell
# scripts) and the Python dependencies,
# lints, then runs unit and functional tests with stestr.
# Arguments are passed to stestr as a test filter.
set -euo pipefail
EXTRA_REQUIREMENTS="$(dirname "$0")/../test-requirements.txt"
# shellcheck source=SCRIPTDIR/setup-env.sh
source "$(dirname "$0")/setup-env.sh"
cd "$ROOT"

packages=()
if ! ls /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server \
        >/dev/null 2>&1; then
    packages+=(rabbitmq-server)
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    packages+=(postgresql)
fi
[ -x /usr/bin/etcd ] || packages+=(etcd-server)
command -v shellcheck >/dev/null || packages+=(shellcheck)
command -v ipmi_sim >/dev/null || packages+=(openipmi)
command -v promtool >/dev/null || packages+=(prometheus)
if [ ${#packages[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends "${packages[@]}" >/dev/null
fi

"$VENV/bin/ruff" check .
# oslotest: keep logs and output of passing tests out of the report.
export OS_LOG_CAPTURE=1 OS_STDOUT_CAPTURE=1 OS_STDERR_CAPTURE=1
if [ ! -d .stestr ]; then
    # No test history yet (a fresh clone): seed it with recorded
    # durations, so that stestr shares the slow tests out between its
    # workers instead of dealing them blindly.
    "$VENV/bin/python" -m cryptomine_scheduler.tests.durations seed \
        tools/test-durations.txt | "$VENV/bin/stestr" load --force-init \
        >/dev/null
fi
set +e
"$VENV/bin/stestr" run "$@"
status=$?
set -e
# One closing line that any CI log reader understands.
"$VENV/bin/stestr" last --subunit | "$VENV/bin/subunit2csv" \
    | awk -F, 'NR > 1 { if ($2 == "success") p++;
                        else if ($2 == "skip") s++; else f++ }
               END { printf "%d passed, %d failed, %d skipped\n", p, f, s }'
exit $status
