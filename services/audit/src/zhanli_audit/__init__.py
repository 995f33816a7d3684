"""Zhanli audit and integrations service: the tamper-evident audit chain, outgoing webhooks."""
