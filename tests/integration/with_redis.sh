#!/usr/bin/env bash
# tests/integration/with_redis.sh -- run an integration test binary against
# two throw-away redis-servers started with ops/redis/redis.sh in a temp dir:
# one without and one with a password.  Both are stopped and their data
# removed on every exit path (success, failure, crash, SIGTERM from ctest).
#
#   with_redis.sh REDIS_SH TEST_BINARY [ARGS...]
#
# The test sees: SPC_TEST_REDIS_SH, SPC_TEST_REDIS_DIR, SPC_TEST_REDIS_PORT
# (plain server), SPC_TEST_REDIS_AUTH_DIR, SPC_TEST_REDIS_AUTH_PORT and
# SPC_TEST_REDIS_PW (the password, only in the environment).
set -uo pipefail

redis_sh=${1:?usage: with_redis.sh REDIS_SH TEST_BINARY [ARGS...]}
shift
[[ $# -ge 1 ]] || { echo "with_redis.sh: no test binary" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/spc-redis-test.XXXXXX")
child=

stop_one() {
    local dir=$1 pid
    [[ -f $dir/redis.state ]] || return 0
    # A test may have left the server SIGSTOPped: let it see the SIGTERM.
    pid=$(sed -n 's/^REDIS_PID=//p' "$dir/redis.state")
    [[ -n $pid && $pid != 0 ]] && kill -CONT "$pid" 2>/dev/null
    "$redis_sh" stop "$dir" >/dev/null 2>&1
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n $child ]] && kill -0 "$child" 2>/dev/null; then
        kill -TERM "$child" 2>/dev/null
        wait "$child" 2>/dev/null
    fi
    stop_one "$work/plain"
    stop_one "$work/auth"
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

start_one() {
    local dir=$1 line
    line=$("$redis_sh" start "$dir" | grep '^REDIS=') || return 1
    printf '%s\n' "${line##*:}"
}

SPC_TEST_REDIS_PW=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
die() { echo "with_redis.sh: $*" >&2; exit 1; }
port=$(start_one "$work/plain") || die "cannot start redis"
# The password reaches redis.sh through its environment, never argv.
auth_port=$(SPCSTREAM_REDIS_PASSWORD=$SPC_TEST_REDIS_PW \
    start_one "$work/auth") || die "cannot start redis (with password)"

export SPC_TEST_REDIS_SH=$redis_sh
export SPC_TEST_REDIS_DIR=$work/plain
export SPC_TEST_REDIS_PORT=$port
export SPC_TEST_REDIS_AUTH_DIR=$work/auth
export SPC_TEST_REDIS_AUTH_PORT=$auth_port
export SPC_TEST_REDIS_PW

# In the background so that a SIGTERM reaches the trap at once.
"$@" &
child=$!
wait "$child"
rc=$?
child=
exit "$rc"
