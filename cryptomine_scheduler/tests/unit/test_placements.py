from oslotest import base

from cryptomine_scheduler.history import nova_notifications
from cryptomine_scheduler.history import placements

UUID = '6f1a2b3c-0000-4000-8000-000000000001'


def nova_object(object_name: str, **data) -> dict:
    """A nova versioned object as nova serialises it in a notification."""
    return {'nova_object.name': object_name, 'nova_object.namespace': 'nova',
            'nova_object.version': '1.0', 'nova_object.data': data}


IMAGE = '0c8d7e6f-0000-4000-8000-0000000000aa'


def create(host='compute-1', extra_specs=None, uuid=UUID) -> dict:
    flavor = nova_object('FlavorPayload', name='miner', flavorid='m1',
                         vcpus=4, memory_mb=8192,
                         extra_specs=extra_specs or {})
    return nova_object('InstanceCreatePayload', uuid=uuid, host=host,
                       flavor=flavor, image_uuid=IMAGE)


class TestPlacements(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.now = [1000.0]
        self.book = placements.Placements(warmup=60, max_age=900, limit=3,
                                          clock=lambda: self.now[0])

    def test_warm_up_counts_from_the_first_sample(self):
        self.book.placed('a', 'h1', 2, 1024, None)
        first = {'a': 1030.0}
        self.now[0] = 1089.0
        self.assertEqual(['a'], list(self.book.warming(first.get)))
        self.now[0] = 1090.0
        self.assertEqual({}, self.book.warming(first.get))

    def test_warm_guests_handed_over_once(self):
        self.book.placed('a', 'h1', 2, 1024, None, 'm1', 'img')
        self.book.placed('b', 'h1', 2, 1024, None)
        first = {'a': 1000.0}
        warmed = []
        self.now[0] = 1060.0
        self.assertEqual(['b'], list(self.book.warming(
            first.get, lambda *args: warmed.append(args))))
        self.book.warming(first.get, lambda *args: warmed.append(args))
        self.assertEqual([('a', placements.Placement(
            'h1', 2, 1024, None, 1000.0, 'm1', 'img'))], warmed)

    def test_never_sampled_counts_until_max_age(self):
        self.book.placed('a', 'h1', 2, 1024, None)
        self.now[0] = 1900.0
        self.assertEqual(['a'], list(self.book.warming(lambda uuid: None)))
        self.now[0] = 1900.5
        self.assertEqual({}, self.book.warming(lambda uuid: None))

    def test_bounded_oldest_dropped_first_and_gone(self):
        for uuid in 'abcd':
            self.book.placed(uuid, 'h1', 1, 512, None)
        self.book.gone('c')
        self.assertEqual(['b', 'd'], list(self.book.warming(
            lambda uuid: None)))


class TestPlacementEvents(base.BaseTestCase):
    """Events from other controllers, which may come out of order."""

    def setUp(self):
        super().setUp()
        self.now = [1000.0]
        self.learnt = []
        self.book = placements.Placements(
            warmup=60, max_age=900, clock=lambda: self.now[0],
            on_event=self.learnt.append)

    def placed(self, at, host='h1'):
        return placements.PlacementEvent(
            'a', at, placements.Placement(host, 2, 1024, None, at))

    def warming(self):
        return self.book.warming(lambda uuid: None)

    def test_events_learnt_here_are_shared_applied_ones_are_not(self):
        self.book.placed('a', 'h1', 2, 1024, None)
        self.book.apply(placements.PlacementEvent('b', 1000.0), 'peers')
        self.book.gone('a')
        self.assertEqual([self.placed(1000.0), placements.PlacementEvent(
            'a', 1000.0)], self.learnt)
        self.assertEqual({'nova': 2, 'peers': 1}, self.book.counts())

    def test_the_newest_event_of_a_guest_wins(self):
        # A rescheduled build: failed on h1 at 1010, started on h2 at
        # 1020; the peers' events arrive newest first.
        self.book.apply(self.placed(1020.0, 'h2'), 'peers')
        self.book.apply(placements.PlacementEvent('a', 1010.0), 'peers')
        self.book.apply(self.placed(1000.0, 'h1'), 'peers')
        self.assertEqual({'a': self.placed(1020.0, 'h2').placement},
                         self.warming())
        # Deleted at 1030, the delete arriving before its placement.
        self.book.apply(placements.PlacementEvent('a', 1030.0), 'peers')
        self.book.apply(self.placed(1020.0, 'h2'), 'peers')
        self.assertEqual({}, self.warming())

    def test_a_deletion_is_remembered_for_max_age(self):
        self.book.apply(placements.PlacementEvent('a', 1030.0), 'peers')
        self.now[0] = 1930.0
        self.book.apply(self.placed(1020.0), 'peers')
        self.assertEqual({}, self.warming())
        self.assertEqual({'a': 1030.0}, self.book._gone)
        # Any event it could outdate is past max_age too: forgotten.
        self.now[0] = 1930.5
        self.warming()
        self.assertEqual({}, self.book._gone)


class TestInstanceEndpoint(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.book = placements.Placements(warmup=60, max_age=900,
                                          clock=lambda: 1000.0)
        self.endpoint = nova_notifications.InstanceEndpoint(self.book)

    def notify(self, event_type, payload, publisher='nova-compute:host-p',
               sent=None):
        """Deliver a notification; ``sent`` is its metadata's timestamp,
        as oslo.messaging writes it."""
        handler = (self.endpoint.error if event_type.endswith('error')
                   else self.endpoint.info)
        metadata = {'message_id': 'm'} if sent is None else {
            'message_id': 'm', 'timestamp': sent}
        handler({}, publisher, event_type, payload, metadata)

    def warming(self):
        return self.book.warming(lambda uuid: None)

    def test_create_start_is_a_placement(self):
        self.notify('instance.create.start', create(
            extra_specs={placements.EXPECTED_LOAD_SPEC: '70'}))
        self.assertEqual(
            {UUID: placements.Placement('compute-1', 4, 8192, 70.0, 1000.0,
                                        'm1', IMAGE)},
            self.warming())

    def test_host_from_the_publisher_when_the_payload_has_none(self):
        self.notify('instance.create.start', create(host=None))
        self.assertEqual('host-p', self.warming()[UUID].host)

    def test_expected_load_spec_read_safely(self):
        for spec, expected in (('250', 100.0), ('-5', 0.0), ('nan', None),
                               ('lots', None), (None, None)):
            with self.subTest(spec=spec):
                specs = {} if spec is None else {
                    placements.EXPECTED_LOAD_SPEC: spec}
                self.notify('instance.create.start', create(
                    extra_specs=specs))
                self.assertEqual(expected,
                                 self.warming()[UUID].expected_load_percent)

    def test_gpus_of_the_flavor_are_counted(self):
        gpu = {'cryptomine:accelerator': ' GPU '}
        for specs, gpus in (
                (gpu, 1),
                (dict(gpu, **{'pci_passthrough:alias': 'rtx:4'}), 4),
                (dict(gpu, **{'resources:VGPU': '2'}), 2),
                # A count that cannot be read: a guest placed all the
                # same holds one at least.
                (dict(gpu, **{'pci_passthrough:alias': 'rtx'}), 1),
                ({'cryptomine:accelerator': 'asic'}, 0),
                ({'cryptomine:accelerator': 7}, 0),
                ({}, 0), (None, 0)):
            with self.subTest(specs=specs):
                self.notify('instance.create.start', create(
                    extra_specs=specs))
                self.assertEqual(gpus, self.warming()[UUID].gpus)

    def test_flavor_and_image_ids_read_safely(self):
        payload = create()
        data = payload['nova_object.data']
        data['image_uuid'] = ''
        data['flavor']['nova_object.data']['flavorid'] = 7
        self.notify('instance.create.start', payload)
        self.assertEqual((None, None), (self.warming()[UUID].flavor,
                                        self.warming()[UUID].image))

    def test_failed_build_and_delete_end_the_placement(self):
        for event, name in (('instance.create.error',
                             'InstanceCreatePayload'),
                            ('instance.delete.start',
                             'InstanceActionPayload')):
            with self.subTest(event=event):
                self.notify('instance.create.start', create())
                self.notify(event, nova_object(name, uuid=UUID))
                self.assertEqual({}, self.warming())

    def test_events_count_from_when_nova_sent_them(self):
        # The clock reads 1000 (00:16:40 UTC on 1 January 1970).
        for sent, at in (('1970-01-01 00:16:30.500000', 990.5),
                         ('1970-01-01 00:16:20', 980.0),
                         ('1970-01-01T00:16:20+01:00', -2620.0),
                         # Ahead of this clock, unreadable or absent: now.
                         ('1970-01-01 00:17:00', 1000.0),
                         ('yesterday', 1000.0), (1234, 1000.0),
                         (None, 1000.0)):
            with self.subTest(sent=sent):
                self.notify('instance.create.start', create(), sent=sent)
                self.assertEqual(at, self.book._placed[UUID].placed_at)
                self.notify('instance.delete.end',
                            nova_object('InstanceActionPayload', uuid=UUID),
                            sent=sent)
                self.assertEqual(at, self.book._gone[UUID])
                self.book._gone.clear()

    def test_a_backlog_read_late_is_ordered_and_aged_by_nova_time(self):
        # A build rescheduled from h1 to h2, read after a controller
        # outage with the failure last: the build on h2 stays.
        self.notify('instance.create.start', create(host='h1'),
                    sent='1970-01-01 00:01:00')
        self.notify('instance.create.start', create(host='h2'),
                    sent='1970-01-01 00:01:20')
        self.notify('instance.create.error',
                    nova_object('InstanceCreatePayload', uuid=UUID),
                    sent='1970-01-01 00:01:10')
        self.assertEqual('h2', self.book._placed[UUID].host)
        # Placed at 80, more than max_age (900 s) before now: it no
        # longer counts, where it would have for 900 s from its reading.
        self.assertEqual({}, self.warming())

    def test_unreadable_payloads_skipped(self):
        self.notify('instance.create.start', create(uuid='ok'))
        for payload in ({}, 'text', nova_object('InstanceCreatePayload'),
                        nova_object('InstanceCreatePayload', uuid='x',
                                    host='h', flavor={'vcpus': 'many'}),
                        nova_object('ServiceStatusPayload', uuid='x')):
            with self.subTest(payload=payload):
                self.notify('instance.create.start', payload)
        self.assertEqual(['ok'], list(self.warming()))
        self.assertEqual({'nova': 1, 'unreadable': 5}, self.book.counts())

    def test_only_instance_creation_and_deletion_events(self):
        rule = nova_notifications.InstanceEndpoint.filter_rule
        for event, wanted in (('instance.create.start', True),
                              ('instance.create.end', False),
                              ('instance.delete.end', True),
                              ('instance.update', False),
                              ('service.update', False)):
            with self.subTest(event=event):
                self.assertEqual(wanted, rule.match(
                    {}, 'nova-compute:h', event, {}, {}))
