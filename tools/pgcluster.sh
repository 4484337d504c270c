#!/usr/bin/env bash
# Manage a private PostgreSQL 15 cluster for the pgscore demo and tests.
#
# Usage: tools/pgcluster.sh COMMAND [ARGS]
#
#   start         initdb if needed, start if not running, wait until ready
#   stop          stop the server (fast shutdown); no-op if not running
#   status        print data dir, port and state; exit 0 if running, 3 if not
#   env           print 'export PG...' lines:  eval "$(tools/pgcluster.sh env)"
#   psql [ARGS]   run psql against the cluster (as superuser pgscore, db pgscore)
#   destroy       stop and remove the data directory
#   -h, --help    this help
#
# The cluster listens on 127.0.0.1 only (TCP, no unix sockets), on a port chosen
# at init (env PGSCORE_PORT, else the first free port from 55432 up) and kept in
# the data dir. Data dir: <repo>/.pgdata, or /var/tmp/pgscore-cluster-<hash>
# when the OS user 'pgscore' cannot reach the repo. PGSCORE_DATADIR overrides.
# PostgreSQL refuses to run as root, so as root the server runs as the
# unprivileged OS user 'pgscore' (created if missing).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SELF")")
OS_USER=pgscore
DB_SUPERUSER=pgscore
DB_NAME=pgscore
HOST=127.0.0.1
DEFAULT_PORT_BASE=55432
REPO_HASH=$(printf '%s' "$REPO" | sha256sum | cut -c1-10)
FALLBACK_DATADIR=/var/tmp/pgscore-cluster-$REPO_HASH
REPO_DATADIR=$REPO/.pgdata

die() { echo "pgcluster: $*" >&2; exit 1; }
info() { echo "pgcluster: $*" >&2; }

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$SELF"
}

# ------------------------------------------------------------ binaries
find_bindir() {
    local pgc=${PG_CONFIG:-pg_config} d=""
    if command -v "$pgc" >/dev/null 2>&1; then
        d=$("$pgc" --bindir 2>/dev/null || true)
    fi
    if [ -z "$d" ] || [ ! -x "$d/pg_ctl" ]; then
        [ -x /usr/lib/postgresql/15/bin/pg_ctl ] && d=/usr/lib/postgresql/15/bin
    fi
    [ -n "$d" ] && [ -x "$d/pg_ctl" ] ||
        die "PostgreSQL server binaries not found (pg_config --bindir); run tools/install_deps.sh"
    echo "$d"
}
BINDIR=$(find_bindir)

# ------------------------------------------------------------ run as the server user
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

ensure_os_user() {
    [ "$IS_ROOT" -eq 1 ] || return 0
    if ! id -u "$OS_USER" >/dev/null 2>&1; then
        # System user, no password, no login shell: it only runs the server.
        useradd --system --user-group --home-dir /nonexistent --no-create-home \
            --shell /usr/sbin/nologin "$OS_USER" ||
            die "could not create OS user $OS_USER"
        info "created unprivileged OS user '$OS_USER' to run the server"
    fi
}

# Run a command as the server's OS user (root -> pgscore; otherwise as ourselves).
# cd / first so that tools never trip over an unreadable current directory.
as_server() {
    # fd 9 is the cluster lock: never let it leak into a long-lived postmaster.
    if [ "$IS_ROOT" -eq 1 ]; then
        (cd / && exec 9>&- && runuser -u "$OS_USER" -- "$@")
    else
        (cd / && exec 9>&- && "$@")
    fi
}

# ------------------------------------------------------------ data directory
is_cluster() { [ -f "$1/PG_VERSION" ]; }

# Can the server user reach (every ancestor traversable) and write $1?
server_can_use_dir() {
    as_server test -d "$1" -a -x "$1" -a -w "$1" 2>/dev/null
}

# Can the server user reach the directory $1 (all ancestors searchable)?
server_can_reach() {
    as_server test -x "$1" 2>/dev/null
}

# Print the data dir of an existing cluster, or nothing.
existing_datadir() {
    if [ -n "${PGSCORE_DATADIR:-}" ]; then
        echo "$PGSCORE_DATADIR"; return
    fi
    if is_cluster "$REPO_DATADIR"; then
        echo "$REPO_DATADIR"
    elif is_cluster "$FALLBACK_DATADIR"; then
        echo "$FALLBACK_DATADIR"
    fi
}

# Make an (empty or existing) data dir owned by the server user; 0 on success.
prepare_dir() {
    local d=$1 created=0
    if [ ! -d "$d" ]; then
        mkdir -m 700 "$d" 2>/dev/null || return 1
        created=1
    fi
    if [ "$IS_ROOT" -eq 1 ]; then
        chown "$OS_USER:$OS_USER" "$d" 2>/dev/null || { [ "$created" -eq 1 ] && rmdir "$d"; return 1; }
    fi
    chmod 700 "$d" 2>/dev/null || true
    if ! server_can_use_dir "$d"; then
        [ "$created" -eq 1 ] && rmdir "$d" 2>/dev/null
        return 1
    fi
    return 0
}

# Choose (and create) the data dir for a new cluster; prints it.
choose_new_datadir() {
    if [ -n "${PGSCORE_DATADIR:-}" ]; then
        prepare_dir "$PGSCORE_DATADIR" || die "PGSCORE_DATADIR=$PGSCORE_DATADIR is not usable by user $(server_user_name)"
        echo "$PGSCORE_DATADIR"; return
    fi
    if server_can_reach "$REPO" && prepare_dir "$REPO_DATADIR"; then
        echo "$REPO_DATADIR"; return
    fi
    info "user $(server_user_name) cannot reach/write $REPO_DATADIR (some ancestor of $REPO is not traversable by others?);"
    info "using fallback data dir $FALLBACK_DATADIR"
    prepare_dir "$FALLBACK_DATADIR" || die "cannot prepare fallback data dir $FALLBACK_DATADIR"
    echo "$FALLBACK_DATADIR"
}

server_user_name() {
    if [ "$IS_ROOT" -eq 1 ]; then echo "$OS_USER"; else id -un; fi
}

# ------------------------------------------------------------ port
port_in_use() {
    local p=$1
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && return 0
    fi
    # Something accepting on loopback?
    if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
        return 0
    fi
    return 1
}

# Every cluster made by this script on this machine is recorded here, so that
# a stopped cluster of another checkout keeps its port.
REGISTRY=/var/tmp/pgscore-clusters.list

# Ports already claimed by other pgscore clusters on this machine (maybe stopped).
claimed_ports() {
    local f d
    {
        for f in /var/tmp/pgscore-cluster-*/postgresql.conf "$REPO_DATADIR/postgresql.conf"; do
            [ -r "$f" ] && conf_port "$f"
        done
        if [ -r "$REGISTRY" ]; then
            while read -r d; do
                [ -r "$d/postgresql.conf" ] && conf_port "$d/postgresql.conf"
            done <"$REGISTRY"
        fi
    } 2>/dev/null || true
}

register_cluster() {
    local d=$1
    { grep -qxF -- "$d" "$REGISTRY" || echo "$d" >>"$REGISTRY"; } 2>/dev/null || true
}

choose_port() {
    if [ -n "${PGSCORE_PORT:-}" ]; then
        [[ "$PGSCORE_PORT" =~ ^[0-9]+$ ]] && [ "$PGSCORE_PORT" -ge 1024 ] && [ "$PGSCORE_PORT" -le 65535 ] ||
            die "PGSCORE_PORT must be a port number in 1024..65535"
        [ "$PGSCORE_PORT" -ne 5432 ] || die "refusing port 5432 (reserved for a system PostgreSQL)"
        port_in_use "$PGSCORE_PORT" && die "PGSCORE_PORT=$PGSCORE_PORT is already in use"
        echo "$PGSCORE_PORT"; return
    fi
    local claimed p
    claimed=" $(claimed_ports | tr '\n' ' ') "
    for ((p = DEFAULT_PORT_BASE; p < DEFAULT_PORT_BASE + 500; p++)); do
        case "$claimed" in *" $p "*) continue ;; esac
        port_in_use "$p" || { echo "$p"; return; }
    done
    die "no free TCP port in $DEFAULT_PORT_BASE..$((DEFAULT_PORT_BASE + 499)); set PGSCORE_PORT"
}

# The port stored in a postgresql.conf (last 'port =' setting wins).
conf_port() {
    sed -n 's/^[[:space:]]*port[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p' "$1" | tail -n 1
}

datadir_port() {
    local p
    p=$(conf_port "$1/postgresql.conf")
    [ -n "$p" ] || die "no port setting in $1/postgresql.conf"
    echo "$p"
}

# ------------------------------------------------------------ init
locale_args() {
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
        echo "--locale=C.UTF-8 -E UTF8"
    else
        info "locale C.UTF-8 not available; using --no-locale"
        echo "--no-locale -E UTF8"
    fi
}

init_cluster() {
    local d=$1 port
    port=$(choose_port)
    info "initializing cluster in $d (port $port)"
    # shellcheck disable=SC2046
    if ! as_server "$BINDIR/initdb" -D "$d" -U "$DB_SUPERUSER" --auth=trust $(locale_args) \
            >"/tmp/pgscore-initdb-$REPO_HASH.log" 2>&1; then
        cat "/tmp/pgscore-initdb-$REPO_HASH.log" >&2
        die "initdb failed"
    fi
    rm -f "/tmp/pgscore-initdb-$REPO_HASH.log"
    register_cluster "$d"

    as_server tee -a "$d/postgresql.conf" >/dev/null <<EOF

# ---------------------------------------------------------------------------
# pgscore private dev cluster (written by tools/pgcluster.sh at init)
listen_addresses = '127.0.0.1'          # loopback only
port = $port                            # chosen once; tools read it from here
unix_socket_directories = ''            # TCP only, no socket files anywhere
max_worker_processes = 8
max_parallel_workers_per_gather = 2
shared_buffers = 256MB
jit = off                               # benchmarks compare against plain SQL; no JIT noise
fsync = on
logging_collector = off                 # pg_ctl writes the log to <datadir>/server.log
EOF

    as_server tee "$d/pg_hba.conf" >/dev/null <<'EOF'
# pgscore PRIVATE DEVELOPMENT cluster (tools/pgcluster.sh): passwordless
# "trust" auth, but only over TCP from 127.0.0.1 (no unix sockets, no other
# hosts). Never use this configuration for anything but local dev and tests.
# TYPE  DATABASE  USER  ADDRESS         METHOD
host    all       all   127.0.0.1/32    trust
EOF
}

# ------------------------------------------------------------ server state
is_running() {
    local d=$1
    [ -f "$d/postmaster.pid" ] || return 1
    as_server "$BINDIR/pg_ctl" status -D "$d" >/dev/null 2>&1
}

wait_ready() {
    local port=$1 i
    for ((i = 0; i < 120; i++)); do
        "$BINDIR/pg_isready" -q -h "$HOST" -p "$port" -d postgres -U "$DB_SUPERUSER" && return 0
        sleep 0.5
    done
    return 1
}

show_log_tail() {
    local d=$1
    echo "---- tail of $d/server.log ----" >&2
    tail -n 40 "$d/server.log" >&2 2>/dev/null || echo "(no log)" >&2
    echo "-------------------------------" >&2
}

ensure_database() {
    local port=$1 exists
    exists=$("$BINDIR/psql" -X -q -At -h "$HOST" -p "$port" -U "$DB_SUPERUSER" -d postgres \
        -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'") || return 1
    if [ "$exists" != 1 ]; then
        "$BINDIR/createdb" -h "$HOST" -p "$port" -U "$DB_SUPERUSER" "$DB_NAME" || return 1
        info "created database $DB_NAME"
    fi
}

# Serialize start/stop/destroy of this cluster (e.g. parallel test runners).
take_lock() {
    command -v flock >/dev/null 2>&1 || return 0
    { exec 9>>"/tmp/pgscore-cluster-$REPO_HASH.lock"; } 2>/dev/null || return 0
    flock -w 300 9 || die "timed out waiting for the cluster lock"
}

# ------------------------------------------------------------ commands
cmd_start() {
    take_lock
    ensure_os_user
    local d port
    d=$(existing_datadir)
    if [ -z "$d" ] || ! is_cluster "$d"; then
        d=$(choose_new_datadir)
        init_cluster "$d"
    fi
    port=$(datadir_port "$d")
    if is_running "$d"; then
        wait_ready "$port" || { show_log_tail "$d"; die "server running but not accepting connections on $HOST:$port"; }
        ensure_database "$port" || die "could not ensure database $DB_NAME"
        info "already running: $HOST:$port, data dir $d"
        return 0
    fi
    if port_in_use "$port"; then
        die "port $port (stored in $d/postgresql.conf) is in use by another process; stop it, or 'destroy' and start again with PGSCORE_PORT=<free port>"
    fi
    info "starting server on $HOST:$port (data dir $d)"
    if ! as_server "$BINDIR/pg_ctl" start -D "$d" -l "$d/server.log" -w -t 120 -s >/dev/null 2>&1; then
        show_log_tail "$d"
        die "server failed to start"
    fi
    if ! wait_ready "$port"; then
        show_log_tail "$d"
        die "server started but is not accepting connections on $HOST:$port"
    fi
    if ! ensure_database "$port"; then
        show_log_tail "$d"
        die "could not create database $DB_NAME"
    fi
    info "ready: $HOST:$port, data dir $d"
}

cmd_stop() {
    take_lock
    local d
    d=$(existing_datadir)
    if [ -z "$d" ]; then info "no cluster (nothing to stop)"; return 0; fi
    if ! is_running "$d"; then info "not running ($d)"; return 0; fi
    if ! as_server "$BINDIR/pg_ctl" stop -D "$d" -m fast -w -t 120 -s; then
        show_log_tail "$d"
        die "failed to stop server"
    fi
    info "stopped ($d)"
}

cmd_status() {
    local d port
    d=$(existing_datadir)
    if [ -z "$d" ]; then
        echo "cluster: not initialized (would use $REPO_DATADIR or $FALLBACK_DATADIR)"
        return 3
    fi
    port=$(datadir_port "$d")
    echo "datadir: $d"
    echo "address: $HOST:$port (user $DB_SUPERUSER, database $DB_NAME)"
    echo "log:     $d/server.log"
    if is_running "$d"; then
        echo "state:   running (pid $(head -n 1 "$d/postmaster.pid"))"
        return 0
    fi
    echo "state:   stopped"
    return 3
}

cmd_env() {
    local d port
    d=$(existing_datadir)
    [ -n "$d" ] || die "cluster not initialized; run: tools/pgcluster.sh start"
    port=$(datadir_port "$d")
    is_running "$d" || info "warning: cluster is not running; run: tools/pgcluster.sh start"
    echo "export PGHOST=$HOST"
    echo "export PGPORT=$port"
    echo "export PGUSER=$DB_SUPERUSER"
    echo "export PGDATABASE=$DB_NAME"
}

cmd_psql() {
    local d port
    d=$(existing_datadir)
    [ -n "$d" ] || die "cluster not initialized; run: tools/pgcluster.sh start"
    port=$(datadir_port "$d")
    is_running "$d" || die "cluster is not running; run: tools/pgcluster.sh start"
    exec "$BINDIR/psql" -h "$HOST" -p "$port" -U "$DB_SUPERUSER" -d "$DB_NAME" "$@"
}

cmd_destroy() {
    take_lock
    local d
    d=$(existing_datadir)
    if [ -z "$d" ]; then info "no cluster (nothing to destroy)"; return 0; fi
    if is_running "$d"; then
        as_server "$BINDIR/pg_ctl" stop -D "$d" -m fast -w -t 120 -s || die "failed to stop server"
    fi
    # Only ever remove a directory that is a PostgreSQL data dir.
    is_cluster "$d" || die "$d does not look like a data dir; not removing"
    rm -rf -- "$d"
    info "destroyed $d"
}

case "${1:-}" in
    start)   shift; cmd_start "$@" ;;
    stop)    shift; cmd_stop "$@" ;;
    status)  shift; cmd_status "$@" ;;
    env)     shift; cmd_env "$@" ;;
    psql)    shift; cmd_psql "$@" ;;
    destroy) shift; cmd_destroy "$@" ;;
    -h|--help|help) usage ;;
    "") usage >&2; exit 2 ;;
    *) echo "pgcluster: unknown command: $1" >&2; usage >&2; exit 2 ;;
esac
