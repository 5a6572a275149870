#!/usr/bin/env bash
# Main job on embedded defaults: a controller (SQLite history, in-process
# message bus) and a collector sampling this machine for a short while,
# then the per-host summary the controller stored.  Arguments are passed
# to cryptomine-demo (try --help).
set -euo pipefail
# shellcheck source=SCRIPTDIR/setup-env.sh
source "$(dirname "$0")/setup-env.sh"
exec "$VENV/bin/cryptomine-demo" "$@"
