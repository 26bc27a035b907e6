"""Tenancy: hashed API keys, rate limits, budgets that cannot be overshot, and their state."""
