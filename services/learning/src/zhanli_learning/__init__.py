"""Zhanli learning service."""
