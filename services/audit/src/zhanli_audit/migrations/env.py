import zhanli_audit.main  # noqa: F401  (imports every model, registering its tables)
from zhanli_audit.db import metadata
from zhanli_shared.migrations import run_alembic_env

run_alembic_env(metadata)
