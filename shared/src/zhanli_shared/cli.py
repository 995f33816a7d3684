"""One command line per service: ``serve`` (default) | ``api`` | ``relay`` | ``consume`` |
``migrate`` | ``outbox list|retry|discard`` (parked events, ``events/outbox_admin.py``),
so the same package runs as one process on a laptop and as separate
Deployments in Kubernetes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from starlette.types import ASGIApp

from zhanli_shared.migrations import new_revision, upgrade
from zhanli_shared.rekey import EncryptedField
from zhanli_shared.runtime import Mode
from zhanli_shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def service_main(
    *,
    prog: str,
    settings_factory: Callable[[], S],
    app_factory: Callable[[S, Mode], ASGIApp],
    migrations_dir: Path,
    argv: Sequence[str] | None = None,
    encrypted_fields: Callable[[], Sequence[EncryptedField]] | None = None,
) -> None:
    """``encrypted_fields``: where the service keeps encrypted personal data (``rekey``
    re-wraps it under the data key ring's active key)."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Run the {prog} service.")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=[m.value for m in Mode] + ["migrate", "revision", "outbox", "rekey"],
    )
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--revision", default="head", help="migrate: target revision")
    parser.add_argument("-m", "--message", help="revision: what the new migration does")
    args = parser.parse_args(argv)
    if args.command != "outbox" and args.rest:
        # Options after the command (``migrate --revision X``) land in ``rest``: read them.
        later = parser.parse_args(args.rest)
        for name in ("host", "port", "revision", "message"):
            if getattr(later, name) != parser.get_default(name):
                setattr(args, name, getattr(later, name))
    settings = settings_factory()
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    if args.command == "migrate":
        upgrade(settings, migrations_dir, args.revision)
        print(f"{prog}: migrated to {args.revision}")
        return
    if args.command == "rekey":
        from zhanli_shared.rekey import rekey_command

        sys.exit(rekey_command(settings, encrypted_fields or (lambda: ()), prog))
    if args.command == "outbox":
        from zhanli_shared.events.outbox_admin import outbox_command

        sys.exit(outbox_command(settings, args.rest, prog))
    if args.command == "revision":
        new_revision(settings, migrations_dir, args.message or "change")
        return
    import uvicorn

    app = app_factory(settings, Mode(args.command))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop="auto",
        http="auto",
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
