"""Trace-replay simulator: placement policies compared on real workloads.

:mod:`.traces` reads utilisation traces (or :mod:`.synthetic` makes
one), :mod:`.fleet` describes the hosts, :mod:`.engine` replays the
trace under each of :mod:`.policies`, :mod:`.metrics` scores the runs
and :mod:`.report` prints and plots them.  The load-aware policies run
the scheduler's load model (:mod:`cryptomine_scheduler.scoring`) and the
re-planner (:mod:`cryptomine_scheduler.planning`) themselves.
"""
