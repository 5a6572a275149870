"""The errors the controller raises to its RPC callers.

They live apart from the code that raises them (the history store, the
plan store, the re-planner) so that a caller re-raises them as
themselves (see :data:`cryptomine_scheduler.rpcapi.REMOTE_EXCEPTION_
MODULES`) without importing the database layer or the re-planner:
nova-scheduler and the command line have neither's dependencies.
"""


class UnknownHost(LookupError):
    """The store has never seen this host."""


class UnknownInstance(LookupError):
    """The store holds no sample of this instance."""


class UnknownMetric(ValueError):
    """The metric name is not one of :class:`~.sample.HostMetric`."""


class BadArgument(ValueError):
    """A call's argument is of the wrong type or out of range."""


class PlanNotFound(LookupError):
    """No plan has this id."""


class ReplanBusy(RuntimeError):
    """Another round is running (here or on another controller)."""


class ReplanUnavailable(RuntimeError):
    """This controller cannot plan (or move): no nova API configured."""


class UnknownAggregate(LookupError):
    """No compute host is in the named aggregate."""


class NovaUnavailable(RuntimeError):
    """Reading the cluster from nova or placement failed."""


class NotRunningHere(RuntimeError):
    """The plan is not running on this controller (no round to stop)."""
