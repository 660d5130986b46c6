#!/usr/bin/env bash
# Builds the Lambda binaries for arm64 (release) with cargo-lambda and prints each one's size.
#
#   infra/build-lambdas.sh                 # every function binary named in template.yaml
#   infra/build-lambdas.sh dtap-auth       # only these
#
# Output: <target dir>/lambda/<binary>/bootstrap.zip (the binary, named `bootstrap`, inside).
# `sam build` runs the same build itself; this script is for checking sizes and for deploying
# without SAM. A clean build takes 5-7 minutes on 2 cores (the binaries share most of the work).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo lambda --version >/dev/null 2>&1; then
    echo "cargo-lambda is not installed: pip install cargo-lambda (brings zig for cross-linking)" >&2
    exit 1
fi

if [ $# -gt 0 ]; then
    bins=("$@")
else
    # The template is the list of deployed functions: BuildProperties.Binary of each.
    mapfile -t bins < <(sed -n 's/^[[:space:]]*Binary:[[:space:]]*\([A-Za-z0-9_-]*\).*/\1/p' template.yaml)
fi
if [ ${#bins[@]} -eq 0 ]; then
    echo "no binaries found in template.yaml" >&2
    exit 1
fi

bin_args=()
for b in "${bins[@]}"; do bin_args+=(--bin "$b"); done

echo "== cargo lambda build --release --arm64 --output-format zip ${bin_args[*]}"
cargo lambda build --release --arm64 --output-format zip "${bin_args[@]}"

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

echo
# bootstrap = the binary's size (read from the zip), zip = what Lambda receives.
python3 - "$target_dir/lambda" "${bins[@]}" <<'PY'
import os, sys, zipfile
root, bins = sys.argv[1], sys.argv[2:]
mib = lambda n: f"{n / 2**20:.1f} MiB"
print(f"{'binary':<16} {'bootstrap':>10} {'zip':>10}  path")
for b in bins:
    z = os.path.join(root, b, "bootstrap.zip")
    with zipfile.ZipFile(z) as f:
        raw = f.getinfo("bootstrap").file_size
    print(f"{b:<16} {mib(raw):>10} {mib(os.path.getsize(z)):>10}  {z}")
PY
