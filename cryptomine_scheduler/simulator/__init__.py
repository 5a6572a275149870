"""Trace-replay simulator: placement policies compared on real workloads.

:mod:`.traces` reads utilisation traces (or :mod:`.synthetic` makes
one), :mod:`.fleet` describes the hosts, :mod:`.engine` replays the
trace under one of :mod:`.policies`, :mod:`.comparison` under several,
:mod:`.metrics` scores the runs and :mod:`.report` prints and plots
them; :mod:`.command` is the command line.  The load-aware policies run
the scheduler's load model (:mod:`cryptomine_scheduler.placement.scoring`) on
summaries computed as the controller's (:mod:`.history`), and the
re-planner (:mod:`cryptomine_scheduler.planning`).
"""
