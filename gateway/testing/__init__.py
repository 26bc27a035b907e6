"""Local upstream servers speaking the real wire formats, for tests and benchmarks."""
