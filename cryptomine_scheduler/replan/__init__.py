"""The re-planner: the cluster as nova and placement describe it, rounds
that plan a better placement (with :mod:`cryptomine_scheduler.planning`)
and carry it out through nova's API, a few moves at a time, and the
windows in which guests may be stopped.
"""

from cryptomine_scheduler import exception

# Controllers released before 3 December 2026 raised these as this
# module's (it was one module then): their callers look them up here to
# re-raise them as themselves (rpcapi.REMOTE_EXCEPTION_MODULES).
ReplanBusy = exception.ReplanBusy
ReplanUnavailable = exception.ReplanUnavailable
UnknownAggregate = exception.UnknownAggregate
NovaUnavailable = exception.NovaUnavailable
NotRunningHere = exception.NotRunningHere
