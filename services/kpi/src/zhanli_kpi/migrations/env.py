import zhanli_kpi.main  # noqa: F401  (imports every model, registering its tables)
from zhanli_kpi.db import metadata
from zhanli_shared.migrations import run_alembic_env

run_alembic_env(metadata)
