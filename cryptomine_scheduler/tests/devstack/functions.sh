#!/bin/bash
#
# Stand-ins for the devstack functions the cryptomine devstack plugin
# calls.  ini files are edited for real (ini_edit.py, devstack's
# semantics); what would install, create databases or start and stop
# services is appended to $HARNESS_LOG, one line per call.  Needs
# HARNESS_LOG and HARNESS_PYTHON; ENABLED_SERVICES and DISABLED_SERVICES
# as in local.conf.

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

function _record {
    echo "$*" >>"$HARNESS_LOG"
}

function _ini {
    "$HARNESS_PYTHON" "$HARNESS_DIR/ini_edit.py" "$@"
}

function iniset {
    _ini set "$@"
}

function iniget {
    _ini get "$@"
}

function iniget_multiline {
    _ini get-multi "$@"
}

function iniadd {
    _ini add "$@"
}

function is_service_enabled {
    local service
    for service in "$@"; do
        if [[ ",$ENABLED_SERVICES," == *",$service,"* ]]; then
            return 0
        fi
    done
    return 1
}

# Like devstack's: a service disabled in local.conf stays disabled.
function enable_service {
    local service
    for service in "$@"; do
        if [[ ",${DISABLED_SERVICES:-}," != *",$service,"* ]] \
                && ! is_service_enabled "$service"; then
            ENABLED_SERVICES+=",$service"
        fi
    done
}

# trueorfalse DEFAULT VARNAME: the variable's value as True or False.
function trueorfalse {
    local value=${!2:-}
    case "$value" in
        1|yes|Yes|YES|true|True|TRUE) echo True ;;
        0|no|No|NO|false|False|FALSE) echo False ;;
        *) echo "$1" ;;
    esac
}

function get_transport_url {
    if [[ -n "$RABBIT_HOST" && -n "$RABBIT_PASSWORD" ]]; then
        echo "rabbit://stackrabbit:$RABBIT_PASSWORD@$RABBIT_HOST:5672/${1:-}"
    fi
}

function get_notification_url {
    get_transport_url "$@"
}

function database_connection_url {
    echo "mysql+pymysql://root:$DATABASE_PASSWORD@$DATABASE_HOST/$1?charset=utf8"
}

function get_python_exec_prefix {
    echo "$DEST/data/venv/bin"
}

function recreate_database {
    _record recreate_database "$@"
}

# Like pip's editable install, puts the package's console scripts in the
# Python prefix: those already installed for the tests' Python.
function setup_develop {
    local prefix
    _record setup_develop "$@"
    prefix=$(get_python_exec_prefix)
    mkdir -p "$prefix"
    ln -sf "$(dirname "$HARNESS_PYTHON")"/cryptomine-* "$prefix"
}

function rabbitmqctl {
    _record rabbitmqctl "$@"
}

# Writes what devstack's would: the service user's credentials.
function configure_keystone_authtoken_middleware {
    local conf=$1 user=$2
    iniset "$conf" keystone_authtoken auth_type password
    iniset "$conf" keystone_authtoken www_authenticate_uri "$KEYSTONE_SERVICE_URI"
    iniset "$conf" keystone_authtoken username "$user"
    iniset "$conf" keystone_authtoken password "$SERVICE_PASSWORD"
}

function create_service_user {
    _record create_service_user "$@"
}

function get_or_create_service {
    _record get_or_create_service "$@"
}

function get_or_create_endpoint {
    _record get_or_create_endpoint "$@"
}

function run_process {
    _record run_process "$@"
}

function stop_process {
    _record stop_process "$@"
}

function echo_summary {
    echo "$@"
}

function die {
    local line=$1
    shift
    echo "die at line $line: $*" >&2
    exit 1
}

# The harness runs as the stack user: no privileges to gain.
function sudo {
    "$@"
}
