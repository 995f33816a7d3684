#!/usr/bin/env bash
# Re-pin every environment: exact versions with hashes, no download addresses.
# requirements/dev.txt: the development environment (all members + dev tools);
# <member>/requirements.txt: one member's own third-party dependencies (its image).
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_NO_CONFIG=1
PY=3.11
compile() { # out, inputs...
  local out=$1; shift
  python3 -m uv pip compile --quiet --generate-hashes --python-version "$PY" --no-header \
    --no-emit-package zhanli-shared --no-emit-package zhanli-gateway \
    $(for s in people talent learning kpi commission retention audit; do echo --no-emit-package zhanli-$s; done) \
    "$@" -o "$out"
  if grep -qE 'https?://|file://' "$out"; then echo "lock $out records an address" >&2; exit 1; fi
}
compile shared/requirements.txt shared/pyproject.toml
compile gateway/requirements.txt shared/pyproject.toml gateway/pyproject.toml
for s in people talent learning kpi commission retention audit; do
  compile services/$s/requirements.txt shared/pyproject.toml services/$s/pyproject.toml
done
# dev: every member plus the dev dependency group of the workspace root
members=(shared/pyproject.toml gateway/pyproject.toml services/*/pyproject.toml)
compile requirements/dev.txt "${members[@]}" --group pyproject.toml:dev
echo "locked: requirements/dev.txt and one requirements.txt per member"
