"""The audit log: append-only, hash-chained, searchable and exportable by auditors."""
