"""Zhanli's common library: every service imports it, it imports no service."""
