#!/usr/bin/env bash
# Installs what Kumo needs and is missing, on Debian 12. Idempotent: run it as often as you like.
#   deploy/install-deps.sh          runtime needs (PostgreSQL, QEMU, runc, …) and the default images
#   deploy/install-deps.sh --test   also the test tools (aws-cli, boto3, schemathesis and moto in .venv,
#                                   Chromium for the console's browser tests)
# Both also install Node.js and npm and the web console's npm packages (web-console/node_modules).
# Rust (cargo) must already be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=false
[ "${1:-}" = "--test" ] && want_test=true

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_updated=false
apt_install() {
    if ! $apt_updated; then
        $SUDO apt-get update -qq
        apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

missing=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
# The web console (web-console/) is built with Node.js and npm; its browser tests drive
# Debian's Chromium (playwright-core never downloads a browser).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if $want_test; then
    [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
fi

# Compute: QEMU (bookworm-backports), runc, iproute2, nftables, busybox, dnsmasq; then the default images.
deploy/install-compute-deps.sh
deploy/build-images.sh "${KUMO_IMAGE_DIR:-target/kumo-images}"

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi

# The console's npm packages, pinned by its lock file: `npm ci` only when the lock file
# changed since the last install (a stamp of its hash in node_modules), so a re-run costs nothing.
if [ -f web-console/package-lock.json ]; then
    # Vite 7 wants Node.js 20.19+ (Debian 12's own nodejs is 18): say so rather than fail later.
    if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
        echo "Node.js $(node --version) is too old for the web console's build (Vite 7 needs 20.19 or later): install a newer nodejs (e.g. from NodeSource) and run this again" >&2
        exit 1
    fi
    lock_hash="$(sha256sum web-console/package-lock.json | cut -d' ' -f1)"
    stamp=web-console/node_modules/.kumo-lock-sha256
    if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
        echo "installing the web console's npm packages (npm ci)"
        npm --prefix web-console ci --no-audit --no-fund --loglevel=error
        echo "$lock_hash" >"$stamp"
    fi
fi

if $want_test; then
    # aws-cli and boto3 in a project venv, so the system Python stays untouched
    # (Debian's Python refuses pip installs outside a venv).
    if [ ! -x .venv/bin/aws ] || ! .venv/bin/python -c 'import boto3, botocore' >/dev/null 2>&1; then
        if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
            apt_install python3-venv
        fi
        rm -rf .venv
        python3 -m venv .venv
        .venv/bin/pip install --quiet --disable-pip-version-check awscli boto3
    fi
    # schemathesis, pinned: cli/tests/schemathesis.rs runs it against openapi/kumo.json.
    schemathesis_version=4.32.5
    if ! .venv/bin/schemathesis --version 2>/dev/null | grep -qx "schemathesis, version $schemathesis_version"; then
        .venv/bin/pip install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
    fi
    # moto (server mode), pinned: cli/tests/conformance.rs compares Kumo's answers with its.
    # Installed with the venv's boto3/botocore as constraints, so moto never upgrades them.
    moto_version=5.2.5
    if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('moto') != '$moto_version')" 2>/dev/null \
        || [ ! -x .venv/bin/moto_server ]; then
        constraints="$(mktemp)"
        .venv/bin/pip freeze --disable-pip-version-check | grep -iE '^(boto3|botocore|s3transfer)==' >"$constraints"
        .venv/bin/pip install --quiet --disable-pip-version-check -c "$constraints" "moto[server]==$moto_version"
        rm -f "$constraints"
    fi
    echo "test tools: $(.venv/bin/aws --version 2>&1), $(.venv/bin/schemathesis --version 2>&1), moto $moto_version, $(/usr/bin/chromium --version 2>/dev/null), node $(node --version)"
fi
