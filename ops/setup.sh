#!/usr/bin/env bash
# ops/setup.sh -- make a fresh Debian bookworm machine ready to build, test and run
# spcstream.  Idempotent: each step is skipped when its result is already there.
#
#   ops/setup.sh [--no-build] [--asan]
#
# 1. Debian packages (apt-get; sudo when not root): compiler, CMake/Ninja, librdkafka,
#    avro-c, hiredis, libcurl, jansson, Check, redis-server, a JDK and Maven, clang-format.
# 2. A Python venv in <repo>/.venv with the hook (editable, test extras), the station
#    simulator, fastavro and jsonschema (the integration tests read Avro with fastavro).
# 3. The Kafka jars from Maven Central (ops/kafka/kafka.sh fetch) into <repo>/.cache.
# 4. The build: <repo>/build (RelWithDebInfo, -Werror); with --asan also <repo>/build-asan
#    (AddressSanitizer + UndefinedBehaviorSanitizer).
#
# Environment: SPCSTREAM_SKIP_APT=1 skips step 1 (packages installed another way).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=1
ASAN=0
for a in "$@"; do
    case $a in
    --no-build) BUILD=0 ;;
    --asan) ASAN=1 ;;
    -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $a (try --help)" >&2; exit 2 ;;
    esac
done

log() { printf '\033[1msetup:\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(
    build-essential cmake ninja-build pkg-config git
    librdkafka-dev libavro-dev libhiredis-dev libcurl4-openssl-dev libjansson-dev check
    redis-server openjdk-17-jre-headless maven
    python3 python3-venv python3-pip clang-format curl
)

apt_step() {
    local missing=() p
    [[ ${SPCSTREAM_SKIP_APT:-0} == 1 ]] && return 0
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && { log "Debian packages: all present"; return 0; }
    log "installing Debian packages: ${missing[*]}"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The venv is rebuilt when the files that pin its contents change.
venv_step() {
    local venv=$REPO/.venv stamp want
    stamp=$venv/.spcstream-stamp
    want=$(cat "$REPO/hook/pyproject.toml" "$REPO/ops/sim/pyproject.toml" "$0" | sha256sum | cut -c1-16)
    if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
        log "Python venv: up to date ($venv)"
        return 0
    fi
    log "Python venv: installing the hook, the simulator and test tools into $venv"
    [[ -x $venv/bin/python ]] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e "$REPO/hook[test]" -e "$REPO/ops/sim" \
        "fastavro==1.13.1" "jsonschema>=4.20" "mypy>=1.10"
    echo "$want" >"$stamp"
}

build_one() { # dir, extra cmake args...
    local dir=$1
    shift
    if [[ ! -f $dir/build.ninja ]]; then
        cmake -S "$REPO" -B "$dir" -G Ninja "$@" >/dev/null
    fi
    if ! cmake --build "$dir" >"$dir/build.log" 2>&1; then
        tail -n 60 "$dir/build.log" >&2
        echo "setup.sh: build in $dir failed (full log: $dir/build.log)" >&2
        exit 1
    fi
}

apt_step
venv_step
log "Kafka jars: ops/kafka/kafka.sh fetch"
"$REPO/ops/kafka/kafka.sh" fetch
if ((BUILD)); then
    log "building $REPO/build"
    build_one "$REPO/build" -DSPC_WERROR=ON
    if ((ASAN)); then
        log "building $REPO/build-asan (ASan + UBSan)"
        build_one "$REPO/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSPC_SANITIZE=ON -DSPC_WERROR=ON
    fi
fi
log "ready"
