"""``python -m zhanli_people [serve|api|relay|consume|migrate|import-from-gateway|rekey]``"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared.cli import service_main
from zhanli_shared.rekey import EncryptedField


def main() -> None:
    if sys.argv[1:2] == ["import-from-gateway"]:  # carry an older install's rows over
        from zhanli_people.carry import cli

        sys.exit(cli(sys.argv[2:]))
    service_main(
        prog="zhanli-people",
        settings_factory=PeopleSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
        encrypted_fields=encrypted_fields,
    )


def encrypted_fields() -> list[EncryptedField]:
    """Where the people service keeps encrypted personal data (``rekey``)."""
    from zhanli_people.directory import service
    from zhanli_people.directory.models import Employee
    from zhanli_shared.db import table_of

    employees = table_of(Employee)
    return [
        EncryptedField(employees, "employee_id", column, _context(service, field))
        for column, field in (("phone_enc", "phone"), ("id_number_enc", "id_number"))
    ]


def _context(service: Any, field: str) -> Callable[[str], str]:
    return lambda employee_id: service.personal_context(employee_id, field)


if __name__ == "__main__":
    main()
