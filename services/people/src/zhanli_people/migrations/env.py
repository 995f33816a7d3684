import zhanli_people.main  # noqa: F401  (imports every model, registering its tables)
from zhanli_people.db import metadata
from zhanli_shared.migrations import run_alembic_env

run_alembic_env(metadata)
