#!/usr/bin/env bash
# A local high-availability PostgreSQL for pgscore: pg_auto_failover with a
# monitor, a primary and a synchronous secondary, on loopback.
#
# Usage: tools/ha.sh COMMAND
#
#   start         create the three nodes if needed, start what is not running,
#                 wait for a primary and a secondary, CREATE EXTENSION pgscore
#   stop          stop every node (then kill whatever is left); no-op if stopped
#   status        the nodes and their roles (pg_autoctl show state); exit 3 if down
#   failover      a controlled failover (pg_autoctl perform failover), waits for it
#   crash-primary kill -9 the primary's keeper and postmaster (a lost machine);
#                 'start' brings the node back, it rejoins as a standby (pg_rewind)
#   env           export lines for clients: PGHOST/PGPORT lists with
#                 PGTARGETSESSIONATTRS=read-write, and PGSCORE_HA_URL (a
#                 multi-host postgres:// URL); eval "$(tools/ha.sh env)"
#   wait          wait until there is a primary and a secondary again
#   destroy       stop and remove the HA data folder
#   -h, --help    this help
#
# Everything lives in <repo>/.ha (git-ignored; PGSCORE_HA_DIR overrides): one
# PGDATA per node, pg_autoctl's config and state (HOME/XDG dirs), logs, ports.
# Ports are chosen once, free, from 56432 up (PGSCORE_HA_PORT overrides the
# base), above tools/pgcluster.sh's range. As root the nodes run as the
# unprivileged OS user 'pgscore'. Authentication is 'trust' on 127.0.0.1 only
# and there is no TLS (--no-ssl): a LOCAL TEST SETUP, where no byte leaves the
# machine; never deploy it like this (see the README's HA section).
# PostgreSQL binaries come from PG_CONFIG (the one pgscore was installed into).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
HA_DIR=${PGSCORE_HA_DIR:-$REPO/.ha}
OS_USER=pgscore
DB_USER=pgscore
DB_NAME=pgscore
HOST=127.0.0.1
PORT_BASE=${PGSCORE_HA_PORT:-56432}
NODES=(node1 node2)

# Fast failure detection on the monitor (see the README's HA section for the
# figures): a health check every second, given up after one retry.
MONITOR_SETTINGS=(
    "pgautofailover.health_check_period=1000"
    "pgautofailover.health_check_timeout=1000"
    "pgautofailover.health_check_max_retries=1"
    "pgautofailover.health_check_retry_delay=500"
    "pgautofailover.node_considered_unhealthy_timeout=2000"
    "pgautofailover.primary_demote_timeout=5000"
)

die() { echo "ha: $*" >&2; exit 1; }
info() { echo "ha: $*" >&2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"; }

PG_CONFIG=${PG_CONFIG:-pg_config}
command -v "$PG_CONFIG" >/dev/null 2>&1 || die "pg_config not found (set PG_CONFIG)"
BINDIR=$("$PG_CONFIG" --bindir)
[ -x "$BINDIR/pg_ctl" ] || die "no pg_ctl in $BINDIR"
command -v pg_autoctl >/dev/null 2>&1 ||
    die "pg_autoctl not found; run tools/install_deps.sh (pg-auto-failover-cli, postgresql-15-auto-failover)"

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# A client's libpq settings (say from 'eval "$(tools/ha.sh env)"': PGPORT=a,b)
# must not reach pg_autoctl or the postgres it starts.
for v in $(compgen -e); do
    case "$v" in PG_CONFIG) ;; PG*) unset "$v" ;; esac
done

# pg_autoctl keeps its config, state and pid files under HOME/XDG dirs: all in HA_DIR.
AUTOCTL_ENV=(
    "HOME=$HA_DIR/home" "XDG_CONFIG_HOME=$HA_DIR/home/config"
    "XDG_DATA_HOME=$HA_DIR/home/data" "XDG_RUNTIME_DIR=$HA_DIR/home/run"
    "PG_CONFIG=$PG_CONFIG" "PATH=$BINDIR:/usr/bin:/bin"
    # pg_autoctl's own (test-suite) knob for unix_socket_directories: ours, not
    # /var/run/postgresql, which the server user may not write.
    "PG_REGRESS_SOCK_DIR=$HA_DIR/home/run" "PGHOST=$HA_DIR/home/run"
)

# Run as the server's OS user with pg_autoctl's environment.
as_server() {
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd / && exec 9>&- && runuser -u "$OS_USER" -- env "${AUTOCTL_ENV[@]}" "$@")
    else
        (cd / && exec 9>&- && env "${AUTOCTL_ENV[@]}" "$@")
    fi
}

ensure_os_user() {
    [ "$IS_ROOT" -eq 1 ] || return 0
    id -u "$OS_USER" >/dev/null 2>&1 && return 0
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin "$OS_USER" || die "could not create OS user $OS_USER"
}

# ------------------------------------------------------------ layout
pgdata() { echo "$HA_DIR/$1"; }
logfile() { echo "$HA_DIR/logs/$1.log"; }
pidfile() { echo "$HA_DIR/pids/$1"; }

port_in_use() {
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ] && return 0
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

# Ports are chosen once and kept in HA_DIR/ports: "name port" lines.
port_of() {
    [ -r "$HA_DIR/ports" ] || die "not initialized; run: tools/ha.sh start"
    awk -v n="$1" '$1 == n { print $2 }' "$HA_DIR/ports"
}

choose_ports() {
    [ -s "$HA_DIR/ports" ] && return 0
    local p=$PORT_BASE name tmp=$HA_DIR/ports.tmp
    : >"$tmp"
    for name in monitor "${NODES[@]}"; do
        while port_in_use "$p"; do p=$((p + 1)); done
        [ "$p" -lt 65536 ] || die "no free port from $PORT_BASE up"
        echo "$name $p" >>"$tmp"
        p=$((p + 1))
    done
    mv "$tmp" "$HA_DIR/ports"
}

monitor_uri() { echo "postgres://autoctl_node@$HOST:$(port_of monitor)/pg_auto_failover?sslmode=disable"; }

prepare_dirs() {
    mkdir -p "$HA_DIR"/{home/config,home/data,home/run,logs,pids}
    chmod 700 "$HA_DIR"
    local name
    for name in monitor "${NODES[@]}"; do touch "$(logfile "$name")"; done
    [ "$IS_ROOT" -eq 1 ] && chown -R "$OS_USER:$OS_USER" "$HA_DIR"
    if ! as_server test -w "$HA_DIR"; then
        die "user $OS_USER cannot write $HA_DIR (an ancestor not traversable?); set PGSCORE_HA_DIR"
    fi
}

# ------------------------------------------------------------ processes
# The pid of a node's 'pg_autoctl run' (also its process group and session), if alive.
service_pid() {
    local f pid
    f=$(pidfile "$1")
    [ -r "$f" ] || return 1
    pid=$(cat "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# The postmaster of a node, if running.
postmaster_pid() {
    local d pid
    d=$(pgdata "$1")
    [ -r "$d/postmaster.pid" ] || return 1
    pid=$(head -n 1 "$d/postmaster.pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Start 'pg_autoctl run' detached in its own session, so that no caller waits on
# its output and stop can kill the whole group.
run_service() {
    local name=$1 d log pidf
    service_pid "$name" >/dev/null && return 0
    d=$(pgdata "$name"); log=$(logfile "$name"); pidf=$(pidfile "$name")
    as_server setsid -f bash -c 'echo $$ > "$1"; exec pg_autoctl run --pgdata "$2" >>"$3" 2>&1 </dev/null' \
        _ "$pidf" "$d" "$log"
    local i
    for ((i = 0; i < 50; i++)); do service_pid "$name" >/dev/null && return 0; sleep 0.1; done
    die "pg_autoctl run for $name did not start; see $log"
}

psql_at() {
    "$BINDIR/psql" -X -q -At -h "$HOST" -p "$1" -U "$DB_USER" -d "$2" -v ON_ERROR_STOP=1 "${@:3}"
}

# "name role" lines from the monitor (roles: pg_auto_failover's reported states).
node_states() {
    psql_at "$(port_of monitor)" pg_auto_failover -F ' ' -c \
        "SELECT nodename, reportedstate, goalstate FROM pgautofailover.node ORDER BY nodeid" 2>/dev/null
}

# Reported states lag: a node may still be restarting (a standby following a new timeline).
all_accept_connections() {
    local name
    for name in "${NODES[@]}"; do
        psql_at "$(port_of "$name")" "$DB_NAME" -c "SELECT 1" >/dev/null 2>&1 || return 1
    done
}

# Wait until one node is primary and every other one secondary, settled.
wait_healthy() {
    local timeout=${1:-180} i states
    for ((i = 0; i < timeout * 2; i++)); do
        states=$(node_states || true)
        if [ "$(echo "$states" | awk '$2 == $3 && $2 == "primary"' | wc -l)" -eq 1 ] &&
           [ "$(echo "$states" | awk '$2 == $3 && $2 == "secondary"' | wc -l)" -eq $((${#NODES[@]} - 1)) ] &&
           all_accept_connections; then
            return 0
        fi
        sleep 0.5
    done
    echo "$states" >&2
    return 1
}

# (again for a few seconds: right after a failover the monitor may answer nothing for a moment)
primary_name() {
    local i name
    for ((i = 0; i < 20; i++)); do
        name=$(node_states | awk '$2 == "primary" || $3 == "primary" { print $1; exit }')
        [ -n "$name" ] && { echo "$name"; return 0; }
        sleep 0.5
    done
    return 1
}

# ------------------------------------------------------------ commands
create_monitor() {
    local d
    d=$(pgdata monitor)
    [ -f "$d/PG_VERSION" ] && return 0
    info "creating the monitor on $HOST:$(port_of monitor)"
    as_server pg_autoctl create monitor --pgdata "$d" --pgport "$(port_of monitor)" \
        --hostname "$HOST" --auth trust --no-ssl --pgctl "$BINDIR/pg_ctl" \
        >>"$(logfile monitor)" 2>&1 || { tail -n 30 "$(logfile monitor)" >&2; die "could not create the monitor"; }
    # Loopback only: pg_autoctl starts the monitor with listen_addresses '*'
    # (only its create has no --listen); it is restarted with this by 'run'.
    as_server pg_autoctl config set --pgdata "$d" postgresql.listen_addresses "$HOST" >/dev/null
}

tune_monitor() {
    local s args=()
    for s in "${MONITOR_SETTINGS[@]}"; do args+=(-c "ALTER SYSTEM SET ${s%%=*} = '${s#*=}'"); done
    psql_at "$(port_of monitor)" pg_auto_failover "${args[@]}" -c "SELECT pg_reload_conf()" >/dev/null
}

wait_monitor() {
    local i
    for ((i = 0; i < 120; i++)); do
        psql_at "$(port_of monitor)" pg_auto_failover -c "SELECT 1" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tail -n 30 "$(logfile monitor)" >&2
    die "the monitor does not answer on $HOST:$(port_of monitor)"
}

create_node() {
    local name=$1 d
    d=$(pgdata "$name")
    [ -f "$d/PG_VERSION" ] && [ -f "$HA_DIR/home/config/pg_autoctl$d/pg_autoctl.cfg" ] && return 0
    # A standby is made by pg_basebackup from the running primary: wait for one.
    if [ -n "$(node_states)" ]; then
        local i
        for ((i = 0; i < 240; i++)); do
            node_states | awk '$2 ~ /^(single|wait_primary|primary)$/ { ok = 1 } END { exit !ok }' && break
            sleep 0.5
        done
    fi
    info "creating $name on $HOST:$(port_of "$name")"
    as_server pg_autoctl create postgres --pgdata "$d" --pgport "$(port_of "$name")" \
        --listen "$HOST" --hostname "$HOST" --name "$name" --dbname "$DB_NAME" \
        --monitor "$(monitor_uri)" --auth trust --no-ssl --pgctl "$BINDIR/pg_ctl" \
        --replication-quorum true --candidate-priority 50 \
        >>"$(logfile "$name")" 2>&1 || { tail -n 30 "$(logfile "$name")" >&2; die "could not create $name"; }
}

ensure_extension() {
    local primary port
    primary=$(primary_name) || die "the monitor names no primary"
    port=$(port_of "$primary")
    psql_at "$port" "$DB_NAME" -c "SELECT 1 FROM pg_available_extensions WHERE name = 'pgscore'" | grep -q 1 ||
        die "extension pgscore is not installed in $BINDIR's PostgreSQL; run: make install PG_CONFIG=$PG_CONFIG"
    psql_at "$port" "$DB_NAME" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pgscore" >/dev/null
}

cmd_start() {
    ensure_os_user
    mkdir -p "$HA_DIR"
    exec 9>>"$HA_DIR/.lock"; flock -w 300 9 || die "timed out waiting for the HA lock"
    prepare_dirs
    choose_ports
    create_monitor
    run_service monitor
    wait_monitor
    tune_monitor
    local name
    for name in "${NODES[@]}"; do
        create_node "$name"
        run_service "$name"
    done
    wait_healthy 180 || die "no primary and secondary after 180 s; see $HA_DIR/logs/"
    ensure_extension
    local sync
    local primary
    primary=$(primary_name) || die "the monitor names no primary"
    sync=$(psql_at "$(port_of "$primary")" "$DB_NAME" -c "SHOW synchronous_standby_names")
    [ -n "$sync" ] || die "the primary has no synchronous standby"
    info "ready: primary $primary, synchronous_standby_names = $sync"
}

stop_node() {
    local name=$1 d pid i
    d=$(pgdata "$name")
    if service_pid "$name" >/dev/null; then
        as_server pg_autoctl stop --pgdata "$d" >/dev/null 2>&1 || true
        for ((i = 0; i < 300; i++)); do service_pid "$name" >/dev/null || break; sleep 0.1; done
    fi
    # Whatever did not go: the service's whole process group, then the postmaster.
    if pid=$(service_pid "$name"); then
        kill -9 -- "-$pid" 2>/dev/null || true
    fi
    if pid=$(postmaster_pid "$name"); then
        as_server "$BINDIR/pg_ctl" stop -D "$d" -m immediate -w -t 30 >/dev/null 2>&1 || kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$(pidfile "$name")"
}

cmd_stop() {
    [ -d "$HA_DIR" ] || { info "nothing to stop"; return 0; }
    local name
    for name in "${NODES[@]}" monitor; do stop_node "$name"; done
    info "stopped"
}

cmd_status() {
    [ -r "$HA_DIR/ports" ] || { echo "not initialized"; return 3; }
    local name
    for name in monitor "${NODES[@]}"; do
        printf '%-8s %s:%s  service %s  postgres %s\n' "$name" "$HOST" "$(port_of "$name")" \
            "$(service_pid "$name" >/dev/null && echo running || echo stopped)" \
            "$(postmaster_pid "$name" >/dev/null && echo running || echo stopped)"
    done
    service_pid monitor >/dev/null || return 3
    as_server pg_autoctl show state --pgdata "$(pgdata monitor)"
}

cmd_failover() {
    local before
    before=$(primary_name)
    as_server pg_autoctl perform failover --pgdata "$(pgdata monitor)" --wait 120 >&2 ||
        die "failover did not complete"
    wait_healthy 120 || die "no primary and secondary after the failover"
    info "primary was $before, is now $(primary_name)"
}

cmd_crash_primary() {
    local name pid
    name=$(primary_name) || die "no primary"
    # Keeper first, so that it cannot restart its postmaster.
    if pid=$(service_pid "$name"); then kill -9 -- "-$pid" 2>/dev/null || true; fi
    if pid=$(postmaster_pid "$name"); then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$(pidfile "$name")"
    echo "$name"
}

cmd_env() {
    [ -r "$HA_DIR/ports" ] || die "not initialized; run: tools/ha.sh start"
    local hosts="" ports="" hostports="" name
    for name in "${NODES[@]}"; do
        hosts+="${hosts:+,}$HOST"; ports+="${ports:+,}$(port_of "$name")"
        hostports+="${hostports:+,}$HOST:$(port_of "$name")"
    done
    echo "export PGHOST=$hosts"
    echo "export PGPORT=$ports"
    echo "export PGUSER=$DB_USER"
    echo "export PGDATABASE=$DB_NAME"
    echo "export PGTARGETSESSIONATTRS=read-write"
    echo "export PGSCORE_HA_URL='postgres://$DB_USER@$hostports/$DB_NAME?target_session_attrs=read-write'"
    echo "export PGSCORE_HA_MONITOR_PORT=$(port_of monitor)"
}

cmd_destroy() {
    cmd_stop
    [ -d "$HA_DIR" ] || return 0
    [ -r "$HA_DIR/ports" ] || [ -d "$HA_DIR/monitor" ] || die "$HA_DIR does not look like an HA folder; not removing"
    rm -rf -- "$HA_DIR"
    info "destroyed $HA_DIR"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    failover) cmd_failover ;;
    crash-primary) cmd_crash_primary ;;
    env) cmd_env ;;
    wait) wait_healthy "${2:-180}" ;;
    destroy) cmd_destroy ;;
    -h|--help|help) usage ;;
    "") usage >&2; exit 2 ;;
    *) echo "ha: unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
