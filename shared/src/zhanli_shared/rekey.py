"""Re-encrypt personal data under the data-encryption key ring's active key
(``python -m zhanli_<service> rekey``), the second step of a rotation without downtime:

1. put a new key first in the ring (``ZHANLI_DATA_KEYS(_FILE)``), keep the old ones after
   it, roll the processes: new values are sealed with the new key, old ones still read;
2. ``rekey``: every stored value whose key id is not the active one is re-wrapped under it
   (``FieldCipher.rotate``: the value is authenticated with its context first, the
   ciphertext itself is kept), in small transactions while the service keeps serving; a
   row changed meanwhile is left as written (compare-and-set) and picked up by the next
   pass;
3. when ``rekey`` reports nothing left, drop the old key from the ring.

Each service declares where it keeps encrypted values (``EncryptedField``). Values are
found with an index-free ``NOT LIKE 'zv1.<active kid>.%'`` scan, one batch per transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_shared.crypto import TOKEN_VERSION, DecryptionError, FieldCipher


@dataclass(frozen=True)
class EncryptedField:
    """One encrypted column: ``context(row_key)`` is the associated data it was sealed with."""

    table: Table
    key_column: str
    column: str
    context: Callable[[str], str]

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


@dataclass
class RekeyReport:
    rewrapped: dict[str, int] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # "table.column:row" never decrypted
    raced: int = 0  # rows changed while being re-wrapped: the next pass takes them

    @property
    def done(self) -> bool:
        return not self.unreadable and not self.raced


async def rekey(
    sessions: async_sessionmaker[AsyncSession],
    cipher: FieldCipher,
    fields: Sequence[EncryptedField],
    *,
    batch: int = 200,
) -> RekeyReport:
    report = RekeyReport()
    kid = cipher.keyring.active_kid.replace("_", "\\_")  # LIKE's wildcard ('-' is plain)
    active_prefix = f"{TOKEN_VERSION}.{kid}."
    for f in fields:
        key, col = f.table.c[f.key_column], f.table.c[f.column]
        after: str | None = None
        report.rewrapped.setdefault(f.name, 0)
        while True:
            stmt = select(key, col).where(
                col.is_not(None), col.not_like(active_prefix + "%", escape="\\")
            )
            if after is not None:
                stmt = stmt.where(key > after)
            async with sessions() as session:
                rows = (await session.execute(stmt.order_by(key).limit(batch))).all()
                for row_key, stored in rows:
                    try:
                        fresh = cipher.rotate(stored, context=f.context(str(row_key)))
                    except DecryptionError:
                        report.unreadable.append(f"{f.name}:{row_key}")
                        continue
                    done = await session.execute(
                        update(f.table)
                        .where(and_(key == row_key, col == stored))  # compare-and-set
                        .values({f.column: fresh})
                    )
                    if done.rowcount == 1:  # type: ignore[attr-defined]
                        report.rewrapped[f.name] += 1
                    else:
                        report.raced += 1
                await session.commit()
            if len(rows) < batch:
                break
            after = str(rows[-1][0])
    return report


def rekey_command(
    settings: object, fields_of: Callable[[], Sequence[EncryptedField]], prog: str
) -> int:
    """``rekey``: re-wrap every value under the active key; exit 0 when nothing is left."""
    import asyncio

    from zhanli_shared.db import create_engine, session_factory
    from zhanli_shared.settings import ServiceSettings

    assert isinstance(settings, ServiceSettings)
    cipher = FieldCipher.from_settings(settings)

    async def run() -> RekeyReport:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        try:
            return await rekey(session_factory(engine), cipher, fields_of())
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    for name, count in report.rewrapped.items():
        print(f"{prog}: {name}: {count} value(s) re-wrapped under {cipher.keyring.active_kid}")
    for where in report.unreadable:
        print(f"{prog}: UNREADABLE with this key ring: {where}")
    if report.raced:
        print(f"{prog}: {report.raced} row(s) changed meanwhile: run rekey again")
    return 0 if report.done else 1
