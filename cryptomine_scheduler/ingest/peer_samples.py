"""Shared ingest: each controller's stored batches, in every controller's
summaries.

With ``[controller] share_ingest`` the controllers consume one sample
queue together, so each stores only its share of the stream.  After a
batch is stored and summarised, :class:`PeerCaster` casts its valid
samples (new and already stored) to every controller on ``[messaging]
peer_topic`` (a fanout), before the batch is acknowledged; each other
controller's :class:`PeerEndpoint` adds them to its summaries, where its
book of absorbed samples keeps a sample from counting twice.  A batch
whose controller dies before its acknowledgement goes to another
controller, finds its samples stored, and is cast again from there.

The samples come over the controllers' own topic, already validated by
the controller that stored them: they are not checked again.  A batch
travels as one JSON text (since version 1.1 of the peer API), which
costs a fraction of oslo.messaging encoding each sample's fields; a
list of wire samples, as controllers before it cast, is still read.
"""

from collections.abc import Callable
from collections.abc import Sequence

import orjson
import oslo_messaging
from oslo_log import log as logging

from cryptomine_scheduler.telemetry import sample as sample_mod

LOG = logging.getLogger(__name__)
NAMESPACE = 'cryptomine_peers'
VERSION = '1.1'
METHOD = 'absorb_peer_samples'


class PeerCaster:
    """Casts stored batches to every controller on the peer topic."""

    def __init__(self, transport, topic: str, host: str):
        self._host = host
        self._client = oslo_messaging.get_rpc_client(
            transport, oslo_messaging.Target(
                topic=topic, namespace=NAMESPACE, version=VERSION,
                fanout=True))

    def cast(self, samples: Sequence[sample_mod.LoadSample]) -> None:
        """Send ``samples`` to the other controllers' summaries; a failed
        send is logged (they get the samples back from the database when
        they next start)."""
        try:
            text = orjson.dumps([s.to_wire() for s in samples]).decode()
            self._client.cast({}, METHOD, sender=self._host, samples=text)
        except Exception as exc:
            LOG.warning('Could not send %d stored samples to the other '
                        'controllers (%s); their summaries miss them',
                        len(samples), exc)


class PeerEndpoint:
    """Adds the batches other controllers stored to this one's
    summaries through ``absorb``; ignores its own."""

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, host: str,
                 absorb: Callable[[Sequence[sample_mod.LoadSample]], None]):
        self._host = host
        self._absorb = absorb

    def absorb_peer_samples(self, ctxt, sender, samples):
        if sender == self._host:
            return
        try:
            wires = (orjson.loads(samples) if isinstance(samples, str)
                     else samples)
            batch = [sample_mod.LoadSample.from_wire(s) for s in wires]
        except Exception as exc:
            LOG.error('Dropped a batch of %s samples from controller %r '
                      'that could not be read (%s: %s)',
                      len(samples) if isinstance(samples, list) else '?',
                      sender, exc.__class__.__name__, exc)
            return
        self._absorb(batch)
