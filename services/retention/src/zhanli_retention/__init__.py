"""Zhanli retention service."""
