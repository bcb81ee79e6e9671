"""Helpers the test suites share: worlds of chain activity, synthetic media, servers and
proxies to test against. Fixtures stay in the conftests; these are plain code."""
