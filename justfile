# galfriday tasks. Every recipe first makes sure .venv matches pyproject.toml; it reinstalls
# only when pyproject.toml (or the Python it was built with) changed.

set shell := ["bash", "-euo", "pipefail", "-c"]

python := ".venv/bin/python"

# List the recipes.
default:
    @just --list

# Ctrl-C stops it cleanly with exit 0: galfriday takes the terminal's foreground for itself, so
# just never sees the Ctrl-C (just reports any it sees as "interrupted", exit 130).
# Start galfriday: the engine against the embedded simulator (arguments go to `galfriday run`).
run *ARGS: env
    {{python}} -m galfriday run {{ARGS}}

# Run the test suite (arguments go to pytest).
test *ARGS: env
    {{python}} -m pytest {{ARGS}}

# The suite without the tests marked slow (real time, subprocesses): the edit loop, under a minute.
test-fast *ARGS: env
    {{python}} -m pytest -m "not slow" {{ARGS}}

# ruff and mypy --strict on galfriday/.
lint: env
    {{python}} -m ruff check galfriday tests
    {{python}} -m mypy --strict galfriday

# Print the benchmark table and write bench.json (figures only, never a pass/fail).
bench *ARGS: env
    {{python}} -m tests.bench {{ARGS}}

# The engine under a seeded fault schedule for MINUTES (default 5), then checked (exit 1 on a failure).
soak MINUTES="5" *ARGS: env
    {{python}} -m galfriday soak {{MINUTES}} {{ARGS}}

# Create or refresh .venv (a no-op when nothing changed).
env:
    #!/usr/bin/env bash
    set -euo pipefail
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "galfriday needs Python >= 3.11")'
    want="$(python3 -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read() + sys.version.encode()).hexdigest())')"
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv
    fi
    if [ "$(cat .venv/.galfriday-stamp 2>/dev/null)" != "$want" ]; then
        echo "galfriday: installing into .venv (pyproject.toml changed)" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,lint]'
        echo "$want" > .venv/.galfriday-stamp
    fi
