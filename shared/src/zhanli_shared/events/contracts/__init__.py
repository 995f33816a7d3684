"""The event contracts: one module per domain, each payload identified by (type, version).

Importing this package registers every contract; consumers never keep their own copies.
"""

from zhanli_shared.events.contracts import (  # noqa: F401
    audit,
    commission,
    directory,
    gateway,
    kpi,
    learning,
    retention,
    sales,
    talent,
)
from zhanli_shared.events.contracts.base import EventContract, all_contracts, contract_for_topic

__all__ = ["EventContract", "all_contracts", "contract_for_topic"]
