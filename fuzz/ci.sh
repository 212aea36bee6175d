#!/usr/bin/env bash
# The short fuzz run CI does (deploy/test.sh): build every target with plain stable cargo,
# libFuzzer's coverage instrumentation and no sanitizer (safe Rust needs none; panics,
# overflows and debug assertions are what the targets look for), then run each for a few
# seconds from its checked-in seeds. Longer runs: docs/fuzzing.md.
#   fuzz/ci.sh [seconds per target, default 10] [--release]
# Without --release the targets are built unoptimized: half the compile time (what CI
# wants), a tenth of the executions per second (what long runs do not want).
# The layout (fuzz/target/<triple>/{debug,release}/<target>, corpus, artifacts) is cargo
# fuzz's; new corpus entries go to fuzz/corpus/<target> (not checked in), crashes
# to fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-10}"
profile=dev
dir=debug
if [ "${2:-}" = "--release" ]; then
    profile=release
    dir=release
fi
triple="$(rustc -vV | sed -n 's/^host: //p')"
targets=(sigv4 aws_query aws_chunked s3_xml)

# cargo fuzz's flags for `--sanitizer none`; `--target` keeps them off build scripts and
# proc macros. Debug assertions and overflow checks on in both profiles, as `cargo fuzz -O`.
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
if [ "$profile" = release ]; then
    RUSTFLAGS="$RUSTFLAGS -Cdebug-assertions -Coverflow-checks"
fi
export RUSTFLAGS
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo fmt --check
echo "== fuzz: building ${targets[*]} ($profile)"
cargo build --profile "$profile" --target "$triple" --bins \
    --config 'profile.dev.debug="line-tables-only"'

for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    echo "== fuzz: $target for ${seconds}s"
    if ! "$CARGO_TARGET_DIR/$triple/$dir/$target" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="artifacts/$target/" \
        "corpus/$target" "seeds/$target" 2>"artifacts/$target.log"; then
        tail -n 60 "artifacts/$target.log" >&2
        echo "fuzz target $target failed: reproduce with $CARGO_TARGET_DIR/$triple/$dir/$target artifacts/$target/<crash file>" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE' "artifacts/$target.log" | tr '\n' ' '
    echo
done
