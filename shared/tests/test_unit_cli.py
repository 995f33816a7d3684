"""The service command line: options after the command count (``migrate --revision X``
once migrated silently to head)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zhanli_shared import cli
from zhanli_shared.settings import ServiceSettings


@pytest.mark.parametrize(
    "argv",
    [["migrate", "--revision", "abc123"], ["--revision", "abc123", "migrate"]],
)
def test_migrate_takes_the_revision_wherever_it_is_given(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(cli, "upgrade", lambda settings, path, revision: seen.append(revision))
    cli.service_main(
        prog="zhanli-test",
        settings_factory=lambda: ServiceSettings(database_url=f"sqlite:///{tmp_path / 'x.db'}"),
        app_factory=lambda settings, mode: None,  # type: ignore[arg-type,return-value]
        migrations_dir=tmp_path,
        argv=argv,
    )
    assert seen == ["abc123"]


def test_an_unknown_word_after_the_command_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "upgrade", lambda *a: None)
    with pytest.raises(SystemExit):
        cli.service_main(
            prog="zhanli-test",
            settings_factory=lambda: ServiceSettings(),
            app_factory=lambda settings, mode: None,  # type: ignore[arg-type,return-value]
            migrations_dir=tmp_path,
            argv=["migrate", "--nonsense"],
        )
