"""Derived views: pure functions of the spec that every other part consumes."""
