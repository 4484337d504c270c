# What every tools/bench_*.sh does before its Python part; sourced, not run.
#
#   bench_help "$@"        -h/--help: the calling script's header comment, then the
#                           Python script's --help (BENCH_PY)
#   bench_database NAME    starts the private cluster (tools/pgcluster.sh) if needed,
#                           takes its environment and makes NAME the database (created
#                           if missing): each benchmark has its own, so the extension is
#                           created fresh there whatever version an older database holds
BENCH_TOOLS=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")

bench_help() {
    case "${1:-}" in
        -h|--help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$(readlink -f "$0")"
            echo
            exec python3 "$BENCH_PY" --help
            ;;
    esac
}

bench_database() {
    "$BENCH_TOOLS/pgcluster.sh" start >/dev/null 2>&1 || "$BENCH_TOOLS/pgcluster.sh" start
    eval "$("$BENCH_TOOLS/pgcluster.sh" env)"
    export PGDATABASE=$1
    psql -X -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = '$1'" | grep -q 1 \
      || psql -X -q -d postgres -c "CREATE DATABASE $1"
}

# A warning (not an error: an older install may be what is measured) when the extension
# is not installed in the PostgreSQL that pg_config names.
bench_check_installed() {
    local pg_config=${PG_CONFIG:-pg_config} control
    if command -v "$pg_config" >/dev/null 2>&1; then
        control="$("$pg_config" --sharedir)/extension/pgscore.control"
        [ -f "$control" ] || echo "$1: warning: $control not found; is the extension installed (make install)?" >&2
    fi
}
