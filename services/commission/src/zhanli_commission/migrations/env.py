import zhanli_commission.main  # noqa: F401  (imports every model, registering its tables)
from zhanli_commission.db import metadata
from zhanli_shared.migrations import run_alembic_env

run_alembic_env(metadata)
