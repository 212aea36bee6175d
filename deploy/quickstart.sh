#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run `kumo up`.
# Extra arguments go to `kumo up` (e.g. --listen 0.0.0.0:8780 --state-dir /srv/kumo).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
# The web console the gateway serves at /console/ (install-deps ran its `npm ci`).
npm --prefix web-console run build
cargo build --release -p kumo
exec target/release/kumo up --image-dir "$PWD/target/kumo-images" "$@"
