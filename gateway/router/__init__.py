"""Routing: which eligible target serves a request, in which order, and what happens when
one fails (strategies, circuit breakers, latency averages, residency, the attempt loop)."""
