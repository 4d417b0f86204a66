#!/usr/bin/env bash
# test_config.sh SPCSTREAM REPO -- `spcstream config`: the shipped configs are
# accepted, errors in engine and daemon sections name their JSON path and exit
# 2, --defaults is JSON with the documented contract defaults.
set -euo pipefail

bin=${1:?usage: test_config.sh SPCSTREAM REPO}
repo=${2:?usage: test_config.sh SPCSTREAM REPO}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

for f in "$repo"/ops/demo/config.json "$repo"/ops/production/spcstream.json "$repo"/schemas/samples/*.json; do
    [[ -f $f ]] || continue
    SPCSTREAM_REDIS_PASSWORD=x "$bin" config --check "$f" >/dev/null 2>"$work/err" ||
        fail "$f rejected: $(cat "$work/err")"
done

# bad value or key -> exit 2 and the JSON path in the message
check_bad() { # json, expected path
    local rc=0
    printf '%s\n' "$1" >"$work/bad.json"
    "$bin" config --check "$work/bad.json" >/dev/null 2>"$work/err" || rc=$?
    [[ $rc == 2 ]] || fail "$1: exit $rc, want 2"
    grep -qF "$2" "$work/err" || fail "$1: message '$(cat "$work/err")' does not name $2"
}
check_bad '{"detectors":{"ewma":{"lambda":1.5}}}' 'detectors.ewma.lambda'
check_bad '{"detectors":{"cusum":{"hh":4}}}' 'detectors.cusum.hh'
check_bad '{"steps":[{"match":"*","baseline":{"mean":1,"sigma":-1}}]}' 'steps[0].baseline.sigma'
check_bad '{"run":{"wrkers":2}}' 'run.wrkers'
check_bad '{"run":{"checkpoint_interval_ms":5}}' 'run.checkpoint_interval_ms'
check_bad '{"redis":{"port":70000}}' 'redis.port'
check_bad '{"topics":{"measurements":""}}' 'topics.measurements'

# defaults: JSON carrying the contract's parameter names and values
"$bin" config --defaults >"$work/defaults.json"
python3 - "$work/defaults.json" <<'PY' || fail "defaults"
import json, sys
d = json.load(open(sys.argv[1]))
det = d["detectors"]
assert d["buffer_size"] == 256, d["buffer_size"]
assert det["robust_z"]["threshold"] == 4.5
assert det["ewma"]["limits"] == "exact" and 0 < det["ewma"]["lambda"] <= 1
assert det["cusum"]["k"] == 0.5
assert set(det) == {"shewhart", "robust_z", "ewma", "cusum", "trend", "variance", "yield",
                    "near_limit", "subgroup", "runs", "flatline"}, sorted(det)
PY

((fails == 0)) || { echo "$fails failure(s)" >&2; exit 1; }
echo "config: all checks passed"
