#!/usr/bin/env bash
# ops/test.sh -- every test of the project, from a fresh machine.
#
#   ops/test.sh [--quick]
#
# 1. ops/setup.sh --asan: Debian packages, the venv, the Kafka jars, the normal build
#    (-Werror) and the ASan+UBSan build.
# 2. Style: clang-format (C), ruff and mypy (Python).
# 3. Unit tests (CTest label unit) in the normal and in the sanitizer build.
# 4. Detection quality (label eval): replay on simulated fleets, one injected fault each,
#    delays and false-alarm rate against the simulator's ground truth.
# 5. Integration tests (label integration) against real services they start
#    themselves: redis-server for the checkpoint store, Kafka (KRaft) + Redis for the
#    daemon end to end (same answers as replay, crashes, restarts, rebalance, DLQ,
#    operator actions, LLM advisor).
# 6. The pyWATS hook's tests (real pyWATS, real Kafka).
# 7. The quick-start demo (label demo).
#
# --quick: stop after step 3 (no services).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=0
for a in "$@"; do
    case $a in
    --quick) QUICK=1 ;;
    -h | --help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option $a (try --help)" >&2; exit 2 ;;
    esac
done

step() { printf '\n\033[1;35m### %s\033[0m\n' "$*" >&2; }
t0=$SECONDS
declare -a TIMES=()
lap() { TIMES+=("$(printf '%-34s %4ds' "$1" $((SECONDS - t_step)))"); }

cd "$REPO"
PY=$REPO/.venv/bin/python

step "setup (packages, venv, Kafka jars, builds)"
t_step=$SECONDS
ops/setup.sh --asan
lap setup

step "style: clang-format, ruff, mypy"
t_step=$SECONDS
mapfile -t C_FILES < <(git ls-files '*.c' '*.h')
clang-format --dry-run --Werror "${C_FILES[@]}"
(cd hook && "$PY" -m ruff check .)
(cd ops/sim && "$PY" -m ruff check .)
(cd benchmarks/hook && "$PY" -m ruff check .)
"$PY" -m ruff check --isolated --line-length 100 tests benchmarks/pipeline ops/kafka
(cd hook && "$PY" -m mypy --strict src)
lap style

step "unit tests (RelWithDebInfo, -Werror)"
t_step=$SECONDS
ctest --test-dir build -L unit -j2 --output-on-failure
lap "unit"

step "unit tests under ASan + UBSan"
t_step=$SECONDS
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L unit -j2 --output-on-failure
lap "unit (sanitizers)"

if ((QUICK)); then
    printf '%s\n' "${TIMES[@]}" >&2
    exit 0
fi

step "detection quality (replay on simulated fleets with injected faults)"
t_step=$SECONDS
ctest --test-dir build -L eval --output-on-failure
lap "detection quality"

step "integration tests (real redis-server, real Kafka)"
t_step=$SECONDS
ctest --test-dir build -L integration --output-on-failure
lap integration

step "pyWATS hook tests (real pyWATS, real Kafka)"
t_step=$SECONDS
(cd hook && "$PY" -m pytest -q -p no:cacheprovider tests)
lap hook

step "the quick-start demo"
t_step=$SECONDS
ctest --test-dir build -L demo --output-on-failure
lap demo

step "all tests passed in $((SECONDS - t0)) s"
printf '%s\n' "${TIMES[@]}" >&2
