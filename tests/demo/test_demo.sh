#!/usr/bin/env bash
# The quick-start demo as a test (CTest label demo): ops/demo.sh must finish, shut
# down cleanly and show incidents that name the faulty fixture, the firmware version
# and the drifting step, each with advice.  Args: <repo>
set -euo pipefail
REPO=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$REPO/ops/demo.sh" --no-setup >"$out" 2>&1 || { cat "$out"; echo "FAIL: demo exited non-zero"; exit 1; }
fail=0
expect() { # description, extended regex
    if grep -Eq "$2" "$out"; then echo "ok: $1"; else echo "FAIL: $1 (/$2/ not in the output)"; fail=1; fi
}
expect "fixture incident names FX-2B"        '^### \[critical\] PCBA-200/10 fixture FX-2B \(station ST-02\):.*one fixture only'
expect "fixture advice: pogo pins/contacts"  'Inspect and clean the pogo pins of fixture FX-2B'
expect "firmware incident names 3.5.0"       '^### \[(warning|critical)\] PCBA-100/10 firmware 3\.5\.0: Power/VCC 3V3 deviates on one firmware version only'
expect "firmware advice: roll back"          'Hold or roll back firmware 3\.5\.0'
expect "drift incident on Analog/Vref"       '^### \[(warning|critical)\] PCBA-100/10 all stations: Analog/Vref 2V5.* is drifting'
expect "live alerts were printed"            '^\[(INFO|WARNING|CRITICAL)\] .*\(incident [0-9a-f]{8} rev 1, open\)'
expect "summary line"                        '^[0-9]+ incidents: [0-9]+ open'
expect "hook lost nothing"                   'published=([0-9]+) delivered=\1 spooled=0 resent=0 lost=0'
expect "clean shutdown"                      'spcstream run exited 0'
if ((fail)); then cat "$out"; exit 1; fi
