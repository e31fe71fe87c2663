"""Operator tools: checks run against a running deployment (never deployed themselves)."""
