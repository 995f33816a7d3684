"""Zhanli kpi service."""
