"""What the controller makes of the stored samples: rolling summaries,
mining health, each flavor's learned load, the guests nova placed whose
load is not observed yet, and the snapshot that joins them for the
scheduler and the re-planner.

Imported by nova-scheduler's filter and weigher (the summaries' records):
nothing here may pull in the controller's dependencies at import.
"""
