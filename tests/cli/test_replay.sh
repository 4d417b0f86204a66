#!/usr/bin/env bash
# test_replay.sh SPCSTREAM DATA_DIR -- command-line behaviour of
# `spcstream replay`: a known spike is reported on the right unit, nothing
# during warm-up, malformed lines are named by line number and skipped
# (fatal under --strict, exit 2), output is identical across runs, usage
# errors exit 2, I/O errors exit 1, incidents are valid JSON lines.
set -euo pipefail

bin=${1:?usage: test_replay.sh SPCSTREAM DATA_DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0

fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# 300 events of one step: N(10, 0.1) from a fixed seed, a +15 sigma spike at
# unit 250; line 7 is not JSON, line 12 lacks test_step.
python3 - "$work/events.jsonl" <<'PY'
import json, random, sys
rng = random.Random(20261122)
out = open(sys.argv[1], "w")
line = 0
for i in range(1, 301):
    line += 1
    if line == 7:
        out.write("this is not json\n"); line += 1
    if line == 12:
        out.write(json.dumps({"uut_id": "SN-X", "report_id": "r-x",
            "test_plan": "P/1", "measurement": "V", "value": 1.0,
            "timestamp": "2026-11-01T06:00:00Z"}) + "\n"); line += 1
    v = 15.0 * 0.1 + 10.0 if i == 250 else rng.gauss(10.0, 0.1)
    out.write(json.dumps({
        "uut_id": "SN-%04d" % i, "report_id": "r-%04d" % i,
        "test_plan": "P/1", "test_step": "Power/V", "measurement": "V",
        "value": round(v, 5), "unit": "V", "comp_op": "GELE",
        "low_limit": 9.0, "high_limit": 11.0,
        "timestamp": "2026-11-01T06:%02d:%02dZ" % (i // 60, i % 60),
        "meta": {"station": "ST-%d" % (1 + i % 2)}}) + "\n")
PY

# default: malformed lines reported and skipped, exit 0
if ! "$bin" replay -f events -i "$work/events.jsonl" -o "$work/a1.jsonl" \
        --incidents "$work/i1.jsonl" 2>"$work/err1"; then
    fail "replay exited non-zero on a file with malformed lines"
fi
grep -q 'line 7:' "$work/err1" || fail "line 7 (not JSON) not reported"
grep -q 'line 12:.*test_step' "$work/err1" ||
    fail "line 12 (no test_step) not reported with the field"
grep -q '2 malformed' "$work/err1" || fail "summary does not count 2 malformed"

python3 - "$work/a1.jsonl" "$work/i1.jsonl" <<'PY' || fails=$((fails + 1))
import json, sys
anoms = [json.loads(l) for l in open(sys.argv[1])]
spike = [a for a in anoms if a["uut_id"] == "SN-0250"]
assert any(a["detector"] == "shewhart" and a["direction"] == "up"
           for a in spike), "the spike at SN-0250 was not reported: %r" % anoms
early = [a for a in anoms if int(a["uut_id"][3:]) <= 100]
assert not early, "anomalies during warm-up: %r" % early
assert all(len(a["anomaly_id"]) == 32 for a in anoms)
incs = [json.loads(l) for l in open(sys.argv[2])]
assert incs, "no incident revisions"
assert any(s["test_step"] == "Power/V" for i in incs for s in i["steps"])
PY

# determinism: the same input gives byte-identical output
"$bin" replay -f events -i "$work/events.jsonl" -o "$work/a2.jsonl" -q \
    --incidents "$work/i2.jsonl" 2>/dev/null
cmp -s "$work/a1.jsonl" "$work/a2.jsonl" || fail "anomalies differ between runs"
cmp -s "$work/i1.jsonl" "$work/i2.jsonl" || fail "incidents differ between runs"
# stdin -> stdout is the same as files
"$bin" replay -f events -q <"$work/events.jsonl" >"$work/a3.jsonl" 2>/dev/null
cmp -s "$work/a1.jsonl" "$work/a3.jsonl" || fail "stdin/stdout output differs"

# --strict: the first malformed line is fatal, exit 2, named
set +e
"$bin" replay -f events --strict -i "$work/events.jsonl" -o /dev/null \
    2>"$work/err2"
rc=$?
set -e
[ "$rc" -eq 2 ] || fail "--strict exit status $rc, expected 2"
grep -q 'line 7:' "$work/err2" || fail "--strict does not name line 7"

# one config file serves the daemon and replay: its daemon sections (kafka,
# redis, topics, run) are accepted and do not change the result
echo '{"detectors": {"shewhart": {"L": 3.5}}}' >"$work/eng.json"
cat >"$work/daemon.json" <<'JSON'
{"kafka": {"bootstrap.servers": "127.0.0.1:1"}, "redis": {"host": "127.0.0.1"},
 "topics": {"partitions": 1}, "run": {"checkpoint_interval_ms": 2000},
 "detectors": {"shewhart": {"L": 3.5}}}
JSON
"$bin" replay -c "$work/eng.json" -f events -i "$work/events.jsonl" \
    -o "$work/eng.out" 2>/dev/null || fail "replay with an engine-only config failed"
if "$bin" replay -c "$work/daemon.json" -f events -i "$work/events.jsonl" \
    -o "$work/daemon.out" 2>"$work/err5"; then
    cmp -s "$work/eng.out" "$work/daemon.out" \
        || fail "the daemon sections change replay's output"
else
    fail "replay rejects a daemon config: $(cat "$work/err5")"
fi

# usage errors exit 2, I/O errors exit 1, --help exits 0
set +e
"$bin" replay --no-such-option >/dev/null 2>&1
[ $? -eq 2 ] || fail "unknown option does not exit 2"
"$bin" replay -f nonsense -i "$work/events.jsonl" >/dev/null 2>&1
[ $? -eq 2 ] || fail "bad --input-format does not exit 2"
"$bin" replay -i "$work/missing.jsonl" >/dev/null 2>"$work/err3"
[ $? -eq 1 ] || fail "missing input file does not exit 1"
grep -q 'missing.jsonl' "$work/err3" || fail "missing file not named"
echo '{"detectors": {"shewhart": {"L": -1}}}' >"$work/bad.json"
"$bin" replay -c "$work/bad.json" -f events -i "$work/events.jsonl" \
    >/dev/null 2>"$work/err4"
[ $? -eq 2 ] || fail "bad config does not exit 2"
grep -q 'shewhart' "$work/err4" || fail "bad config error does not name the field"
"$bin" replay --help >"$work/help" 2>&1
[ $? -eq 0 ] || fail "--help does not exit 0"
set -e
grep -q 'Usage: spcstream replay' "$work/help" || fail "--help has no usage"

if [ "$fails" -ne 0 ]; then
    echo "$fails check(s) failed" >&2
    exit 1
fi
echo "test_replay: all checks passed"
