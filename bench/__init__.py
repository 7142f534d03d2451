"""Benchmarks of seatgate beside its peers (``make bench``); not part of the test suite."""
