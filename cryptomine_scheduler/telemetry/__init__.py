"""What a collector sends: the load sample, its signature, the checks a
controller makes before it trusts one, and the collector's own counters.

Imported by the collector on every compute host: nothing here may pull in
the controller's dependencies.
"""
