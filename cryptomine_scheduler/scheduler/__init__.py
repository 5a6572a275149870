"""The nova scheduler plugin: load-aware filter and weigher.

Only :mod:`.filter` and :mod:`.weigher` import nova; the rest is plain
Python so it can be tested without nova.
"""
