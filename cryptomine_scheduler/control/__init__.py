"""The controller daemon around the stages: its service (ingest, RPC
server, maintenance), its processes under a supervisor, and its
Prometheus metrics.
"""
