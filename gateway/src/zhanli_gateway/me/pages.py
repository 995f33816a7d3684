"""Pure helpers of /me: keyset cursors over statement lines, and the notifications feed
derived from commission lines. No I/O."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from zhanli_shared.errors import Unprocessable

Key = tuple[dt.datetime, str]
Item = dict[str, Any]


def encode_cursor(scope: str, key: Key) -> str:
    raw = orjson.dumps([scope, key[0].isoformat(), key[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, Key]:
    """The cursor's scope (a period, or the feed) and the key of the last item seen."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        scope, at, ident = orjson.loads(raw)
        moment = dt.datetime.fromisoformat(at)
        if not isinstance(scope, str) or not isinstance(ident, str) or moment.tzinfo is None:
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
        raise Unprocessable("The cursor is not one this API returned.", field="cursor") from exc
    return scope, (moment, ident)


def key_of(time_field: str, id_field: str) -> Callable[[Item], Key]:
    def key(item: Item) -> Key:
        return dt.datetime.fromisoformat(item[time_field]), str(item[id_field])

    return key


def page(
    items: Sequence[Item],
    *,
    key: Callable[[Item], Key],
    scope: str,
    limit: int,
    after: Key | None,
    newest_first: bool = False,
) -> tuple[list[Item], str | None]:
    """One page of ``items`` (ordered by ``key``) after the cursor's key, and the next cursor.

    Keyset, not offset: items that arrive while the client pages never repeat an item."""
    ordered = sorted(items, key=key, reverse=newest_first)
    if after is not None:
        ordered = [i for i in ordered if (key(i) < after if newest_first else key(i) > after)]
    chunk = ordered[:limit]
    more = len(ordered) > limit
    return chunk, encode_cursor(scope, key(chunk[-1])) if more else None


def previous_period(period: str) -> str:
    year, month = map(int, period.split("-"))
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def notification_of(line: Item, period: str) -> Item:
    """One commission line as a notification: 你的回款 X 已计入提成 Y."""
    currency = line["currency"]
    paid = f"{line['basis_amount']} {currency}"
    earned = f"{line['amount']} {currency}"
    return {
        "id": f"commission:{line['commission_id']}",
        "type": "commission.calculated",
        "at": line["calculated_at"],
        "title": "提成已计入 / Commission earned",
        "message": f"你的回款 {paid} 已计入提成 {earned} / commission {earned} on payment {paid}",
        "data": {
            "commission_id": line["commission_id"],
            "payment_id": line.get("payment_id"),
            "deal_id": line["deal_id"],
            "period": period,
            "basis_amount": line["basis_amount"],
            "amount": line["amount"],
            "rate": line["rate"],
            "currency": currency,
            "paid_at": line["occurred_at"],
        },
    }
