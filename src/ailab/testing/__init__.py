"""Test and benchmark support: scratch databases, servers in threads and processes, the GitHub
simulator harness and synthetic legacy databases.

Used by the tests, the notebooks and ``ailab.perf``; the product (``db``, ``queries``, ``web``,
``sync``, ``legacy``, ``cli``) never imports it (``tests/test_layout.py`` checks).
"""
