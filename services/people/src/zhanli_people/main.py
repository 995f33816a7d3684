"""The people service app: the directory (org units, people, HRIS imports, unit moves), the
built-in issuer's sign-in and users, and the API keys of machine identities.

It publishes the directory's change events (``org_unit_upserted``, ``employee_upserted``,
``employee_separated``) that every other service projects; it consumes the talent
service's hires (``candidate_hired``: the person is created in probation). The gateway
routes the public paths here unchanged (``/api/v1/directory/...``, ``/api/v1/auth/token``,
``/api/v1/auth/users``, ``/api/v1/auth/api-keys...``).
"""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_people.apikeys.router import router as apikeys_router
from zhanli_people.db import event_tables, metadata
from zhanli_people.directory import handlers
from zhanli_people.directory.models import Employee
from zhanli_people.directory.router import router as directory_router
from zhanli_people.identity import service as identity
from zhanli_people.identity.router import router as identity_router
from zhanli_people.settings import PeopleSettings
from zhanli_shared.auth import TokenIssuer
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.db import table_of
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import Mode, Runtime, create_service_app


def create_app(settings: PeopleSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or PeopleSettings()
    private_pem = settings.private_key_pem()
    registry = HandlerRegistry()
    cipher = (
        FieldCipher.from_settings(settings)
        if settings.data_keys or settings.data_keys_file
        else None
    )
    handlers.register(registry, Publisher(event_tables, "zhanli/people"), cipher)

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        if private_pem and mode in (Mode.SERVE, Mode.API):
            async with runtime.sessions() as session:
                password = settings.bootstrap_admin_password
                await identity.ensure_bootstrap_admin(
                    session, password.get_secret_value() if password else None
                )
                await session.commit()

    app = create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[directory_router, identity_router, apikeys_router],
        title="Zhanli people",
        description="The directory (org units, people, HRIS imports), sign-in of the built-in "
        "issuer, and API keys.",
        on_start=on_start,
        people_table=table_of(Employee),  # who has left: their tokens are refused here too
    )
    app.state.issuer = (
        TokenIssuer(
            private_pem,
            issuer=settings.local_issuer or settings.auth_issuer,
            audience=settings.auth_audience,
            key_id=settings.auth_key_id,
            ttl_s=settings.token_ttl_s,
        )
        if private_pem
        else None
    )
    return app
