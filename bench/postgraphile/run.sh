#!/usr/bin/env bash
# Onroll against PostGraphile 5 on the same PostgreSQL tables; see README.md.
# Not part of the test suite. Needs PostgreSQL on 127.0.0.1:5432 (user
# postgres, trust auth), Node 20 or later, wrk, and a Rust toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet -p onroll --bin onroll -p wonde-sim --bin wonde-sim)
(cd "$here" && { [ -d node_modules/postgraphile ] || npm ci --no-audit --no-fund --loglevel=error; })
exec node "$here/run.mjs"
