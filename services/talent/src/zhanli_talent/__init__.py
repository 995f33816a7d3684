"""Zhanli talent service."""
