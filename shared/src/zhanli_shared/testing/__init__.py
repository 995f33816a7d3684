"""Test support shared by every service: a real Tansu broker, real databases, tokens."""
