#!/usr/bin/env bash
# What a newcomer waits for: clone the repository, `make run`, and time until the demo
# leaderboard answers. Prints the seconds to the first answer, the packages installed and
# the size of .venv. Usage: loadtest/first_run.sh [GIT_REF]   (default: HEAD)
# The package caches (pip's and uv's) are used as they are, so a second run shows the
# warm-cache time; the clone, .venv and the embedded database are always new.
set -euo pipefail
ref="${1:-HEAD}"
repo="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
work="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
git clone -q "$repo" "$work/tempo"
git -C "$work/tempo" checkout -q "$ref"
cleanup() {
    # The whole process group of `make run`: make, uv, tempo serve and its workers.
    if [ -n "${pid:-}" ]; then kill -TERM -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s.%N)
# DATABASE_URL unset: the embedded PostgreSQL, exactly as on a laptop.
(cd "$work/tempo" && exec setsid env -u DATABASE_URL make run PORT="$port" >"$work/run.log" 2>&1) &
pid=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/leaderboard"; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "make run stopped:" >&2; tail -20 "$work/run.log" >&2; exit 1; fi
    if (( $(date +%s) - ${start%.*} > 600 )); then echo "no answer within 600 s" >&2; exit 1; fi
    sleep 0.2
done
end=$(date +%s.%N)
packages=$(find "$work/tempo/.venv/lib" -maxdepth 3 -name '*.dist-info' -type d | wc -l)
size=$(du -sm "$work/tempo/.venv" | cut -f1)
printf 'ref %s: first answer after %.1f s; %d packages, .venv %d MB\n' \
    "$(git -C "$work/tempo" rev-parse --short HEAD)" "$(echo "$end - $start" | bc)" "$packages" "$size"
