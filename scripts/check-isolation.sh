#!/usr/bin/env bash
# Each member must import and migrate in an environment built from its OWN lock file
# alone: a uv workspace cannot stop one member importing a dependency only another
# member declares, so an undeclared import must fail here, not at a customer's install.
set -euo pipefail
cd "$(dirname "$0")/.."
UVBIN="python3 -m uv"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for member in gateway services/people services/talent services/learning services/kpi services/commission services/retention services/audit; do
  name=$(basename "$member")
  env="$work/$name"
  $UVBIN venv --quiet --python python3 "$env"
  $UVBIN pip sync --quiet --python "$env/bin/python" --require-hashes "$member/requirements.txt"
  # the local packages go in as source, exactly as the images do (PYTHONPATH)
  PYTHONPATH="shared/src:$member/src" ZHANLI_VAR_DIR="$work/var-$name" "$env/bin/python" - "$name" <<'PY'
import importlib, importlib.util, pkgutil, sys
name = sys.argv[1]
pkg = importlib.import_module(f"zhanli_{name}")
count = 0
for mod in pkgutil.walk_packages(pkg.__path__, prefix=f"zhanli_{name}."):
    if ".migrations" in mod.name:
        continue
    importlib.import_module(mod.name)
    count += 1
# zhanli_shared.ml needs the shared 'ml' extra (talent, retention): imported where installed.
has_ml = all(importlib.util.find_spec(m) for m in ("numpy", "sklearn", "lightgbm", "openpyxl"))
for mod in pkgutil.walk_packages(importlib.import_module("zhanli_shared").__path__, prefix="zhanli_shared."):
    if mod.name.startswith("zhanli_shared.testing"):
        continue  # test support: needs the dev tools
    if mod.name.startswith("zhanli_shared.ml.") and not has_ml:
        continue
    importlib.import_module(mod.name)
importlib.import_module(f"zhanli_{name}.main").create_app()
print(f"isolation: {name}: {count} modules import from its own lock")
PY
  PYTHONPATH="shared/src:$member/src" ZHANLI_VAR_DIR="$work/var-$name" "$env/bin/python" -m "zhanli_$name" migrate >/dev/null
done
echo "isolation: every member imports and migrates from its own lock"
