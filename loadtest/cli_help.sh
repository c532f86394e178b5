#!/usr/bin/env bash
# How long `tempo --help` and a sub-command's help take, this tree against GIT_REF,
# alternating the two so that both see the same machine. Prints the minimum of RUNS runs.
# Usage: loadtest/cli_help.sh [GIT_REF] [RUNS]   (defaults: ebc85ca, the last commit before
# the CLI imported its heavy modules lazily, and 10 runs)
# GIT_REF's source runs on this tree's .venv (PYTHONPATH), so only Tempo's code differs.
set -euo pipefail
cd "$(dirname "$0")/.."
ref="${1:-ebc85ca}" runs="${2:-10}"
old="$(mktemp -d)"
trap 'rm -rf "$old"' EXIT
git archive "$ref" src | tar -x -C "$old"
launch='import sys; from tempo.cli import main; sys.argv[0] = "tempo"; main()'
declare -A best
for _ in $(seq "$runs"); do
    for args in "--help" "aggregate --help" "etl majors --help"; do
        for side in ref now; do
            if [ "$side" = ref ]; then path="$old/src"; else path="$PWD/src"; fi
            # shellcheck disable=SC2086 # the arguments are meant to split
            t=$( { /usr/bin/time -f %e env PYTHONPATH="$path" .venv/bin/python -c "$launch" $args >/dev/null; } 2>&1 )
            key="$side|$args"
            if [ -z "${best[$key]:-}" ] || (( $(echo "$t < ${best[$key]}" | bc) )); then best[$key]=$t; fi
        done
    done
done
for args in "--help" "aggregate --help" "etl majors --help"; do
    printf 'tempo %-18s %s: %5.2f s   now: %5.2f s\n' "$args" "$ref" "${best[ref|$args]}" "${best[now|$args]}"
done
