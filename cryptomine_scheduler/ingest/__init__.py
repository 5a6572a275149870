"""From the sample queue to the history: consume, screen, check, store.

The controller's consumer (one process, or ingest worker processes),
the per-host rate limit, the batches other controllers stored and the
samples every controller's summaries already hold.
"""
