"""``python -m zhanli_audit [serve|api|relay|consume|migrate|import-from-gateway|
checkpoint-verify]``"""

from __future__ import annotations

import sys
from pathlib import Path

from zhanli_audit.main import create_app
from zhanli_audit.settings import AuditSettings
from zhanli_shared.cli import service_main
from zhanli_shared.rekey import EncryptedField


def main() -> None:
    if sys.argv[1:2] == ["checkpoint-verify"]:  # offline, with the public key only
        from zhanli_audit.audit.checkpoints import cli as checkpoint_cli

        sys.exit(checkpoint_cli(sys.argv[2:]))
    if sys.argv[1:2] == ["import-from-gateway"]:  # carry the chain and webhooks over, once
        from zhanli_audit.carryover import cli

        sys.exit(cli(sys.argv[2:]))
    service_main(
        prog="zhanli-audit",
        settings_factory=AuditSettings,
        app_factory=create_app,
        migrations_dir=Path(__file__).parent / "migrations",
        encrypted_fields=encrypted_fields,
    )


def encrypted_fields() -> list[EncryptedField]:
    """Where the audit service keeps encrypted secrets (``rekey``): webhook secrets."""
    from zhanli_audit.webhooks.models import WebhookSubscription
    from zhanli_audit.webhooks.service import secret_context
    from zhanli_shared.db import table_of

    subs = table_of(WebhookSubscription)
    return [
        EncryptedField(subs, "id", "secret_enc", lambda sid: secret_context(sid)),
        EncryptedField(
            subs, "id", "previous_secret_enc", lambda sid: secret_context(sid, "previous_secret")
        ),
    ]


if __name__ == "__main__":
    main()
