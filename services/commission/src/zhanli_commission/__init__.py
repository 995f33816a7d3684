"""Zhanli commission service."""
