import zhanli_talent.main  # noqa: F401  (imports every model, registering its tables)
from zhanli_shared.migrations import run_alembic_env
from zhanli_talent.db import metadata

run_alembic_env(metadata)
