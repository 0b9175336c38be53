#!/usr/bin/env bash
# What an operator does with deploy/, checked end to end on a machine with a Docker daemon,
# docker-compose and psql:
#   1. the image, built from deploy/Dockerfile with a binary built on this host (Debian 12, the
#      image's base) instead of its build stage, which needs the rust image from Docker Hub;
#   2. `docker run` of it answers queries over the demo mesh at once, under the password its
#      log prints;
#   3. deploy/compose.yaml: the gateway runs a statement on the scheduler and two executors,
#      and gives the same answer as locally.
# Usage: bash deploy/smoke.sh   (MESHGATE_BIN=path skips the release build; DOCKER=path picks
# a docker client that builds with BuildKit without buildx, such as Debian's 20.10)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${MESHGATE_BIN:-$TARGET/release/meshgate}"
if [[ -z "${MESHGATE_BIN:-}" ]]; then
    cargo build --release --locked --bin meshgate
fi
[[ -x "$BIN" ]] || { echo "smoke: no binary at $BIN" >&2; exit 1; }

DOCKER="${DOCKER:-docker}"
docker() { "$DOCKER" "$@"; }

say() { echo "==> [smoke] $*"; }
fail() { echo "==> [smoke] FAILED: $*" >&2; exit 1; }

CONTAINER=""
cleanup() {
    [[ -n "$CONTAINER" ]] && docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
    docker-compose -f deploy/compose.yaml down -t 2 >/dev/null 2>&1 || true
    rm -rf "${CTX:-}"
}
trap cleanup EXIT

say "image from $BIN"
CTX="$(mktemp -d)"
mkdir -p "$CTX/src/target/release"
cp "$BIN" "$CTX/src/target/release/meshgate"
printf 'FROM scratch\nCOPY src /src\n' | docker build -q -t meshgate-binary -f - "$CTX" >/dev/null
DOCKER_BUILDKIT=1 docker build -f deploy/Dockerfile --build-arg BINARY_IMAGE=meshgate-binary \
    -t meshgate .

# The password a container's log prints once it serves, waiting up to $2 seconds.
password_of() {
    local deadline=$((SECONDS + $2)) line
    while ((SECONDS < deadline)); do
        line="$(docker logs "$1" 2>&1 | grep -o 'PGPASSWORD=[^ ]*' | head -1 || true)"
        if [[ -n "$line" ]]; then
            echo "${line#PGPASSWORD=}"
            return 0
        fi
        sleep 0.5
    done
    docker logs "$1" >&2 || true
    return 1
}

q() { # port password sql
    PGPASSWORD="$2" psql "host=127.0.0.1 port=$1 user=demo dbname=mesh" -XAtq -v ON_ERROR_STOP=1 -c "$3"
}

COUNT_SQL="SELECT count(*) FROM sales.lineitem"
GROUP_SQL="SELECT l_returnflag, l_linestatus, count(*), sum(l_quantity) FROM sales.lineitem GROUP BY 1, 2 ORDER BY 1, 2"

say "docker run: the demo mesh answers at once"
started=$SECONDS
CONTAINER="$(docker run -d -p 127.0.0.1:15433:5433 meshgate)"
PW="$(password_of "$CONTAINER" 60)" || fail "the container printed no password"
n="$(q 15433 "$PW" "$COUNT_SQL")"
say "lineitem has $n rows, $((SECONDS - started)) s after docker run"
[[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || fail "lineitem count: $n"
LOCAL="$(q 15433 "$PW" "$GROUP_SQL")"
docker rm -f "$CONTAINER" >/dev/null
CONTAINER=""

say "compose: a gateway, a scheduler and two executors"
docker-compose -f deploy/compose.yaml up -d --no-build
GATEWAY="$(docker-compose -f deploy/compose.yaml ps -q gateway)"
PW="$(password_of "$GATEWAY" 60)" || fail "the gateway printed no password"
ON_CLUSTER="$(q 5433 "$PW" "SET mesh.execution = 'cluster'; $GROUP_SQL")"
[[ "$ON_CLUSTER" == "$LOCAL" ]] || fail "cluster answer differs:
$ON_CLUSTER
local:
$LOCAL"
# The gateway's audit event (stdout in compose.yaml) says where the statement ran.
event="$(docker-compose -f deploy/compose.yaml logs --no-color gateway 2>&1 | grep 'l_returnflag' | grep -o '"cluster":[a-z]*' | tail -1 || true)"
say "audit of the statement: $event"
[[ "$event" == '"cluster":true' ]] || fail "the statement did not run on the cluster"
say "passed"
