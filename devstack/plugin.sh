#!/bin/bash
#
# devstack plugin of cryptomine-scheduler: enable it in local.conf with
#
#     enable_plugin cryptomine-scheduler <git URL of this repository>
#     enable_service cm-controller     # on one node only
#
# cm-collector is enabled by settings and runs where n-cpu runs; cm-api
# (cryptomine-api) where cm-controller runs.  The
# functions called here live in lib/cryptomine.

# Save trace setting; no tracing here: the configuration holds secrets.
_XTRACE_CRYPTOMINE=$(set +o | grep xtrace)
set +o xtrace

# shellcheck source=SCRIPTDIR/lib/cryptomine
source "$CRYPTOMINE_DIR/devstack/lib/cryptomine"

if is_service_enabled cm-controller cm-collector cm-api n-sch; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing cryptomine-scheduler"
        install_cryptomine

    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring cryptomine-scheduler"
        configure_cryptomine
        init_cryptomine
        if is_service_enabled key && is_service_enabled cm-api; then
            create_cryptomine_accounts
        fi

    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting cryptomine-scheduler"
        start_cryptomine
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_cryptomine
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_cryptomine
    fi
fi

# Restore xtrace
$_XTRACE_CRYPTOMINE
