# galfriday tasks. `run`, `galfriday` and `soak` install only what running needs (.venv); `test`,
# `lint` and `bench` add the developer tools (pytest, hypothesis, ruff, mypy: the `dev` extra).
# Each reinstalls only when pyproject.toml (or the Python it was built with) changed.

set shell := ["bash", "-euo", "pipefail", "-c"]
# Arguments reach commands as "$@", each one whole (a --note with spaces stays one argument).
set positional-arguments := true

python := ".venv/bin/python"

# List the recipes.
default:
    @just --list

# Ctrl-C stops it cleanly with exit 0: galfriday takes the terminal's foreground for itself, so
# just never sees the Ctrl-C (just reports any it sees as "interrupted", exit 130).
# Start galfriday: the engine against the embedded simulator (arguments go to `galfriday run`).
run *ARGS: env
    {{python}} -m galfriday run "$@"

# .venv/bin/galfriday is not on PATH unless .venv is activated; this recipe needs neither.
# Any galfriday command: `just galfriday status`, `just galfriday review list --db X`, ...
galfriday *ARGS: env
    {{python}} -m galfriday "$@"

# Run the test suite (arguments go to pytest).
test *ARGS: dev-env
    {{python}} -m pytest "$@"

# The suite without the tests marked slow (real time, subprocesses): the edit loop, under a minute.
test-fast *ARGS: dev-env
    {{python}} -m pytest -m "not slow" "$@"

# ruff and mypy --strict on galfriday/.
lint: dev-env
    {{python}} -m ruff check galfriday tests
    {{python}} -m mypy --strict galfriday

# Print the benchmark table and write bench.json (figures only, never a pass/fail).
bench *ARGS: dev-env
    {{python}} -m tests.bench "$@"

# The engine under a seeded fault schedule for MINUTES (default 5), then checked (exit 1 on a failure).
soak MINUTES="5" *ARGS: env
    {{python}} -m galfriday soak "$@"

# Create or refresh .venv with what running needs (a no-op when nothing changed).
env: (_venv "runtime")

# Create or refresh .venv with the developer tools too (the `dev` extra).
dev-env: (_venv "dev")

_venv KIND:
    #!/usr/bin/env bash
    set -euo pipefail
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "galfriday needs Python >= 3.11")'
    want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read() + sys.version.encode()).hexdigest())')"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    # A dev install holds the runtime one: after `just test`, `just run` installs nothing.
    for kind in "$1" $([ "$1" = runtime ] && echo dev); do
        if [ "$(cat ".venv/.galfriday-$kind-stamp" 2>/dev/null)" = "$want" ]; then
            exit 0
        fi
    done
    spec="."
    if [ "$1" = dev ]; then spec=".[dev]"; fi
    echo "galfriday: installing $spec into .venv (pyproject.toml changed)" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
    echo "$want" > ".venv/.galfriday-$1-stamp"
    if [ "$1" = dev ]; then echo "$want" > .venv/.galfriday-runtime-stamp; fi
