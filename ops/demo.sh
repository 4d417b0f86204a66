#!/usr/bin/env bash
# ops/demo.sh -- the whole system in a few minutes on one machine.
#
#   ops/demo.sh [--units N] [--no-setup] [--keep]
#
# 1. ops/setup.sh: installs what is missing (Debian packages, Python venv, Kafka jars)
#    and builds spcstream (skip with --no-setup when that is done).
# 2. Starts a throw-away Kafka (KRaft) and redis-server on free 127.0.0.1 ports
#    (ops/kafka/kafka.sh, ops/redis/redis.sh) and `spcstream run` on them.
# 3. The station simulator (ops/sim) drives a fleet of 4 stations x 2 fixtures testing
#    2 products through the real pyWATS submit path with the spcstream hook installed,
#    with three injected problems:
#      - fixture FX-2B gets a contact problem from unit 700,
#      - firmware 3.5.0 shifts Power/VCC 3V3 by +2 sigma from unit 900,
#      - Analog/Vref* drifts upward by 1 sigma per 100 units from unit 500.
# 4. Shows the incidents as they open (one-line alerts, `spcstream incidents --follow`),
#    then the brief of every incident still open and a summary, and stops everything.
#
# With SPCSTREAM_LLM_URL set (an OpenAI-compatible endpoint; SPCSTREAM_LLM_API_KEY,
# SPCSTREAM_LLM_MODEL), qualifying incidents also get LLM advice; otherwise the rule
# advice is shown.  Safe to run again: every run starts from empty services.
# Everything lives in .cache/demo (logs: spcstream.log, sim.log, kafka/, redis/);
# --keep leaves it there after the run.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
UNITS=2000
SETUP=1
KEEP=0
while (($#)); do
    case $1 in
    --units) UNITS=$2; shift ;;
    --no-setup) SETUP=0 ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

say() { printf '\n\033[1;36m== %s\033[0m\n' "$*" >&2; }

((SETUP)) && "$REPO/ops/setup.sh"
BIN=$REPO/build/consumer/spcstream
PY=$REPO/.venv/bin/python
[[ -x $BIN && -x $PY ]] || { echo "demo.sh: run ops/setup.sh first (or drop --no-setup)" >&2; exit 1; }

DIR=$REPO/.cache/demo
RUN_PID=
WATCH_PID=

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $WATCH_PID ]] && kill "$WATCH_PID" 2>/dev/null && wait "$WATCH_PID" 2>/dev/null
    if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
        kill -TERM "$RUN_PID"
        wait "$RUN_PID" 2>/dev/null || true
    fi
    "$REPO/ops/kafka/kafka.sh" stop "$DIR/kafka" >/dev/null 2>&1 || true
    "$REPO/ops/redis/redis.sh" stop "$DIR/redis" >/dev/null 2>&1 || true
    ((KEEP)) || [[ $rc != 0 ]] || rm -rf "$DIR"
    ((rc == 0)) || echo "demo.sh: failed (exit $rc); logs in $DIR" >&2
    exit "$rc"
}

# A previous run that was killed may have left services behind: stop them first.
if [[ -d $DIR ]]; then
    "$REPO/ops/kafka/kafka.sh" stop "$DIR/kafka" >/dev/null 2>&1 || true
    "$REPO/ops/redis/redis.sh" stop "$DIR/redis" >/dev/null 2>&1 || true
    rm -rf "$DIR"
fi
mkdir -p "$DIR"
trap cleanup EXIT INT TERM

say "starting Kafka and Redis on 127.0.0.1"
eval "$("$REPO/ops/kafka/kafka.sh" start "$DIR/kafka" | grep '^BOOTSTRAP=')"
eval "$("$REPO/ops/redis/redis.sh" start "$DIR/redis" | grep '^REDIS=')"
echo "Kafka $BOOTSTRAP, Redis $REDIS" >&2
export SPCSTREAM_BOOTSTRAP_SERVERS=$BOOTSTRAP

METRICS_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "starting spcstream run (log: $DIR/spcstream.log)"
[[ -n ${SPCSTREAM_LLM_URL:-} ]] && echo "LLM advisor: $SPCSTREAM_LLM_URL" >&2
"$BIN" run --redis "$REDIS" --instance demo --metrics-port "$METRICS_PORT" \
    -c "$REPO/ops/demo/config.json" >"$DIR/spcstream.log" 2>&1 &
RUN_PID=$!

metric() { # name -> value summed over its series (0 when absent)
    curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null |
        awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%d\n", s }'
}
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" >/dev/null 2>&1 && break
    kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$DIR/spcstream.log" >&2; exit 1; }
    sleep 0.2
done

say "fleet: 4 stations x 2 fixtures, 2 products, $UNITS units through pyWATS + the hook"
cat >&2 <<'EOF'
   injected: fixture FX-2B contact problem (from unit 700)
             firmware 3.5.0 shifts Power/VCC 3V3 by +2 sigma (from unit 900)
             Analog/Vref* drifts +1 sigma per 100 units (from unit 500)
EOF
# Live alerts: every incident that opens or changes severity, state or advice.
"$BIN" incidents --follow >"$DIR/alerts.txt" 2>"$DIR/incidents.err" &
WATCH_PID=$!
tail -n +1 -f "$DIR/alerts.txt" --pid "$WATCH_PID" &
PYTHONPATH=$REPO/ops/sim "$PY" -m spcsim --serve --kafka "$BOOTSTRAP" \
    --stations 4 --fixtures-per-station 2 --products 2 --units "$UNITS" --seed 23 -q \
    --fault "fixture_contact:fixture=FX-2B,from=700" \
    --fault "fw_shift:fw=3.5.0,step=Power/VCC 3V3,sigma=2,from=900" \
    --fault "drift:step=Analog/Vref*,from=500,rate=1" >"$DIR/sim.log" 2>&1 ||
    { tail -20 "$DIR/sim.log" >&2; exit 1; }
grep -E 'hook|published|spool' "$DIR/sim.log" | tail -3 >&2 || true

# Done when NORMALIZE has every report and DETECT has no lag, and the incident
# revisions stopped changing for 3 s (INCIDENT orders anomalies by input position).
deadline=$((SECONDS + 180))
last=-1
stable=0
while ((SECONDS < deadline)); do
    reports=$(metric spcstream_reports_total)
    lag=$(metric spcstream_detect_lag)
    revs=$(metric spcstream_incident_revisions_total)
    if ((reports >= UNITS && lag == 0 && revs == last)); then
        stable=$((stable + 1))
        ((stable >= 6)) && break
    else
        stable=0
    fi
    last=$revs
    kill -0 "$RUN_PID" 2>/dev/null || { tail -20 "$DIR/spcstream.log" >&2; exit 1; }
    sleep 0.5
done
((SECONDS < deadline)) || { echo "demo.sh: spcstream did not catch up in time" >&2; exit 1; }
sleep 1
kill "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=

say "processed: $(metric spcstream_reports_total) reports, $(metric spcstream_events_processed_total) measurements, $(metric spcstream_anomalies_total) anomalies, $(metric spcstream_incident_revisions_total) incident revisions"
say "incidents still open (briefs)"
"$BIN" incidents --brief | sed -n '/^$/,$p'

say "stopping spcstream (clean shutdown: checkpoint, commit)"
kill -TERM "$RUN_PID"
wait "$RUN_PID" && echo "spcstream run exited 0" >&2
RUN_PID=
grep -E 'stopped|shutdown' "$DIR/spcstream.log" | tail -2 >&2 || true
