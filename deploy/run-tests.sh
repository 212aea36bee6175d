#!/usr/bin/env bash
# `cargo test --workspace`, in two halves at once. Most of the suite's time is spent by
# single-test binaries that wait on a `kumo up`, a VM booting or a Python client, one binary
# at a time; two halves side by side keep both cores busy. Every test already runs beside
# others (cargo runs a binary's tests in parallel, and each test names its namespaces,
# ports and state directories uniquely), so the halves need no coordination.
#
# Half 1: the `kumo` package's tests with VMs and containers (cli/tests/*.rs, new files
# included). Half 2: every other package, and the `kumo` tests that only talk to the API
# (listed in SECOND_HALF). Half 2's output is printed when it ends; both must pass.
set -euo pipefail
cd "$(dirname "$0")/.."

SECOND_HALF=(terraform_exchanges schemathesis conformance s3_cli object_storage catalog_loss
    hostile network_addresses network_interfaces network_public_ips network_security_groups
    network_tags network_topology up s3_fixes console_presign)

echo "== cargo test --no-run (build every test binary once)"
cargo test --workspace --no-run --quiet

first=(--bins)
for file in cli/tests/*.rs; do
    name=$(basename "$file" .rs)
    if [[ ! " ${SECOND_HALF[*]} " =~ " ${name} " ]]; then
        first+=(--test "$name")
    fi
done
second=()
for name in "${SECOND_HALF[@]}"; do
    second+=(--test "$name")
done

log=$(mktemp /tmp/kumo-tests-half2.XXXXXX)
started=$(date +%s)
(
    set +e
    # Every binary runs even after a failure, so one run reports every failing test.
    cargo test --no-fail-fast --workspace --exclude kumo
    rc=$?
    cargo test --no-fail-fast -p kumo "${second[@]}" || rc=1
    echo "== half 2 ended (exit $rc) after $(($(date +%s) - started)) s"
    exit "$rc"
) >"$log" 2>&1 &
half2=$!

echo "== cargo test, half 1: kumo's VM and container tests (half 2 runs beside it; its output follows)"
set +e
cargo test --no-fail-fast -p kumo "${first[@]}"
rc1=$?
echo "== half 1 ended (exit $rc1) after $(($(date +%s) - started)) s"
wait "$half2"
rc2=$?
set -e
echo "== cargo test, half 2: the other packages and kumo's API tests"
cat "$log"
rm -f "$log"
if [ "$rc1" -ne 0 ] || [ "$rc2" -ne 0 ]; then
    echo "== cargo test failed (half 1 exit $rc1, half 2 exit $rc2)"
    exit 1
fi
