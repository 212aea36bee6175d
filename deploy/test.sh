#!/usr/bin/env bash
# The README's second command, and exactly what CI runs: every check and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh --test
# Tests run the real aws-cli and botocore from the project venv.
export KUMO_AWS_CLI="$PWD/.venv/bin/aws"
export KUMO_PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"
export KUMO_IMAGE_DIR="$PWD/target/kumo-images"
# A clean CI build gains nothing from incremental data, which would double target/'s size.
if [ -n "${CI:-}" ]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
echo "== disk free for the build and the tests: $(df -h --output=avail . | tail -1 | tr -d ' ')"

echo "== web console: npm run build (type check against openapi/kumo.json, bundle into web-console/dist)"
npm --prefix web-console run build
echo "== web console: npm test (vitest)"
npm --prefix web-console test
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== fuzz (10 s per target; longer runs: docs/fuzzing.md)"
fuzz/ci.sh 10
