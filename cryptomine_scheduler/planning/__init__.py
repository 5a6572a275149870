"""The re-planner's optimiser: pure numpy/scipy code, no nova imports.

:mod:`.problem` turns the cluster and the load snapshot into arrays,
:mod:`.heuristic` plans fast, :mod:`.exact` solves small fleets to
optimality (for measuring the heuristic) and neighbourhoods of the
heuristic's plan (for refining it), and :mod:`.efficacy` scores a
placement.
"""
