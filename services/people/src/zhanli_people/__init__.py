"""Zhanli people: org units, people, HRIS import, unit moves, local sign-in and API keys."""
