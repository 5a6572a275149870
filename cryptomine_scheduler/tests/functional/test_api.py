"""cryptomine-api over HTTP: keystonemiddleware's auth_token (with its
test fixture's tokens), the real policy engine, and a controller on the
fake transport with stored history (:mod:`.test_cli`'s fleet), nova
faked at the re-planner's edge."""

import time

import fixtures
from keystoneauth1 import fixture as ksa_fixture
from oslo_policy import opts as policy_opts

from cryptomine_scheduler.api import policies
from cryptomine_scheduler.placement import burst
from cryptomine_scheduler.placement.tiers import Tier
from cryptomine_scheduler.telemetry import sample
from cryptomine_scheduler.tests import api_server
from cryptomine_scheduler.tests import samples
from cryptomine_scheduler.tests.functional import test_cli


class ApiTestCase(test_cli.InProcessTestCase):

    def setUp(self):
        super().setUp()
        self.reader = self.api.session(self.api.token(api_server.READER))
        self.admin = self.api.session(self.api.token(api_server.ADMIN))

    def url(self, path: str) -> str:
        return self.api.url + path

    def assertError(self, code: int, message: str, response):
        self.assertEqual((code, {'code': code, 'message': message}),
                         (response.status_code,
                          {k: v for k, v in response.json()['error'].items()
                           if k != 'title'}))


class TestUnauthenticated(ApiTestCase):

    def test_version_documents_and_healthcheck_need_no_token(self):
        anyone = self.api.session(None)
        found = anyone.get(self.url('/'))
        self.assertEqual((200, {'versions': [{
            'id': 'v1', 'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': self.url('/v1/')}]}]}),
            (found.status_code, found.json()))
        self.assertEqual('v1', anyone.get(self.url('/v1/')).json()[
            'version']['id'])
        self.assertEqual(200, anyone.get(self.url('/healthcheck'))
                         .status_code)
        self.assertEqual(405, anyone.post(self.url('/')).status_code)

    def test_resources_need_a_valid_token(self):
        for session in (self.api.session(None),
                        self.api.session('not-a-token')):
            for method, path in (('GET', '/v1/hosts'),
                                 ('POST', '/v1/rebalance')):
                refused = session.request(method, self.url(path))
                self.assertEqual(401, refused.status_code)
                self.assertEqual(f'Keystone uri="{api_server.IDENTITY}"',
                                 refused.headers['WWW-Authenticate'])
        self.assertEqual([], self.client.list_plans())

    def test_every_answer_has_a_request_id(self):
        found = self.reader.get(self.url('/v1/plans'))
        self.assertRegex(found.headers['x-openstack-request-id'],
                         r'^req-[0-9a-f-]{36}$')


class TestReader(ApiTestCase):

    def test_reads_hosts_and_history(self):
        found = self.reader.get(self.url('/v1/hosts')).json()
        hosts = {h['name']: h for h in found['hosts']}
        self.assertEqual(test_cli.FLEET, set(hosts))
        hot = hosts['hot']['load']
        self.assertEqual(10, hot['samples'])
        self.assertEqual(66.5, hot['summaries']['cpu_percent']['last'])
        self.assertIsNone(hot['mining'])
        self.assertEqual(2.0, hosts['gpu1']['load']['mining'][
            'gpu_count']['last'])
        self.assertEqual((9, samples.COUNTERS.dropped),
                         (hosts['hot']['collector']['seq'],
                          hosts['hot']['collector']['dropped']))
        self.assertIsNone(hosts['cold1']['collector'])
        self.assertIsNone(hosts['hot']['warming'])  # no placements learnt

        shown = self.reader.get(self.url('/v1/hosts/hot')).json()['host']
        self.assertEqual(test_cli.SERVERS,
                         [i['uuid'] for i in shown['instances']])
        self.assertEqual({'hot'}, {i['host'] for i in shown['instances']})
        self.assertEqual(10.0, shown['instances'][0]['summaries'][
            'cpu_percent']['last'])
        self.assertIsNone(shown['instances'][0]['device_loss'])
        self.assertIsNone(shown['warming'])  # no placements learnt
        mining = self.reader.get(self.url('/v1/hosts/asic1')).json()['host']
        self.assertEqual([(test_cli.MINING_GUEST, 0.75)],
                         [(i['uuid'], i['device_loss'])
                          for i in mining['instances']])

        history = self.reader.get(self.url('/v1/hosts/hot/history'), params={
            'metric': 'mem_percent', 'since': str(time.time() - 600)}
        ).json()['history']
        self.assertEqual(('hot', 'mem_percent', 0, 10), (
            history['host'], history['metric'],
            history['resolution_seconds'], len(history['points'])))

    def test_reads_the_history_of_gpus_and_miners(self):
        def history(host, **params):
            found = self.reader.get(
                self.url(f'/v1/hosts/{host}/devices/history'),
                params=params).json()['device_history']
            return (found['kind'], found['metric'],
                    found['resolution_seconds'],
                    {d: {v for _, v in points}
                     for d, points in found['devices'].items()},
                    {len(points) for points in found['devices'].values()})

        # Each kind's default reading, over the last hour.
        self.assertEqual(('gpu', 'temperature_c', 0,
                          {'0': {70.0}, '1': {75.0}}, {10}),
                         history('gpu1', kind='gpu'))
        self.assertEqual(('asic', 'hashrate_5s_ghs', 0,
                          {'10.0.0.1:4028': {13500.0, 3375.0}}, {10}),
                         history('asic1', kind='asic'))
        self.assertEqual(('gpu', 'power_w', 0, {}, set()),
                         history('gpu1', kind='gpu', metric='power_w',
                                 since=str(time.time() + 60)))

    def test_reads_an_instance_s_history_and_migrations(self):
        guest = test_cli.SERVERS[0]

        def history(**params):
            found = self.reader.get(
                self.url(f'/v1/instances/{guest}/history'),
                params=params).json()['instance_history']
            return (found['instance'], found['metric'],
                    found['resolution_seconds'],
                    {(host, v) for _, host, v in found['points']},
                    len(found['points']))

        self.assertEqual((guest, 'cpu_percent', 0, {('hot', 10.0)}, 10),
                         history())
        self.assertEqual((guest, 'rss_mb', 0, set(), 0), history(
            metric='rss_mb', since=str(time.time() + 60)))
        self.assertEqual([], self.reader.get(self.url(
            f'/v1/instances/{guest}/migrations')).json()['migrations'])
        # A mining guest's miner, by host and address.
        miner = self.reader.get(
            self.url(f'/v1/instances/{test_cli.MINING_GUEST}/devices/'
                     'history'), params={'kind': 'asic'}).json()[
            'device_history']
        self.assertEqual(
            ('asic', 'hashrate_5s_ghs', ['asic1/10.0.0.1:4028'],
             [13500.0] * 9 + [3375.0]),
            (miner['kind'], miner['metric'], list(miner['devices']),
             [v for _, v in miner['devices']['asic1/10.0.0.1:4028']]))

    def test_reads_plans(self):
        plan = self.client.create_plan(dry_run=True, execute=False)
        self.assertEqual([plan['id']], [p['id'] for p in self.reader.get(
            self.url('/v1/plans')).json()['plans']])
        shown = self.reader.get(self.url(f'/v1/plans/{plan["id"]}')).json()
        self.assertEqual(plan['actions'], shown['plan']['actions'])

    def test_may_not_plan_move_or_abort(self):
        plan = self.client.create_plan(dry_run=False, execute=False)
        for path, rule in (('/v1/plans', policies.PLAN_CREATE),
                           ('/v1/rebalance', policies.PLAN_EXECUTE),
                           (f'/v1/plans/{plan["id"]}/abort',
                            policies.PLAN_ABORT)):
            self.assertError(
                403, f'policy does not allow {rule} to be performed',
                self.reader.post(self.url(path), json={}))
        self.assertEqual([plan['id']],
                         [p['id'] for p in self.client.list_plans()])
        self.assertEqual([], self.nova.started)

    def test_a_system_scoped_token_reads_nothing(self):
        token = ksa_fixture.V3Token(user_id='operator')
        token.set_system_scope()
        for role in api_server.ADMIN:
            token.add_role(name=role)
        system = self.api.session(self.api.tokens.add_token(token))
        self.assertError(
            403, f'{policies.HOST_LIST} needs a project-scoped token',
            system.get(self.url('/v1/hosts')))


class TestBurst(ApiTestCase):
    """``/v1/burst`` from the controller's burst history."""

    def test_reader_reads_the_burst_tier(self):
        now = time.time()
        self.controller.burst.record(
            now - 7200, {'i1': burst.Stay('b1', Tier.BURST, 1.5),
                         'i2': burst.Stay('h1', Tier.HOME, None)},
            {'b1': 1.5}, {})
        found = self.reader.get(self.url('/v1/burst'),
                                params={'since': repr(now - 3600)})
        self.assertEqual(200, found.status_code, found.text)
        status = found.json()['burst']
        self.assertEqual(
            [('b1', 'burst', 1.5, 1), ('h1', 'home', None, 1)],
            [(h['host'], h['tier'], h['cost_per_hour'], h['instances'])
             for h in status['hosts']])
        self.assertEqual(1.5, status['cost_per_hour'])
        self.assertAlmostEqual(1.5, status['cost'], 2)
        self.assertAlmostEqual(1.0, status['burst_instance_hours'], 2)
        # Without since: the last day.
        self.assertAlmostEqual(3.0, self.reader.get(self.url(
            '/v1/burst')).json()['burst']['cost'], 2)

    def test_bad_since_and_no_role(self):
        self.assertError(400, "since 'soon' is not a number",
                         self.reader.get(self.url('/v1/burst'),
                                         params={'since': 'soon'}))
        nobody = self.api.session(self.api.token([]))
        self.assertError(
            403, f'policy does not allow {policies.BURST_GET} to be '
                 'performed', nobody.get(self.url('/v1/burst')))


class TestAdmin(ApiTestCase):

    disables_hosts = True

    def test_creates_a_dry_run(self):
        created = self.admin.post(self.url('/v1/plans'),
                                  json={'dry_run': True, 'max_moves': 2})
        self.assertEqual(201, created.status_code)
        plan = created.json()['plan']
        self.assertEqual(('planned', True, 2), (
            plan['status'], plan['dry_run'], len(plan['actions'])))
        self.assertEqual([], self.nova.started)

    def test_plans_a_drain(self):
        created = self.admin.post(self.url('/v1/plans'),
                                  json={'dry_run': True, 'drain': 'hot'})
        self.assertEqual(201, created.status_code)
        plan = created.json()['plan']
        self.assertEqual(('drain', 6, {'hot'}), (
            plan['trigger'], len(plan['actions']),
            {a['source'] for a in plan['actions']}))
        self.assertEqual([], self.nova.started)
        # Carried out, kept enabled: nothing moves at max_moves 0.
        kept = self.admin.post(self.url('/v1/rebalance'), json={
            'drain': 'hot', 'keep_enabled': True, 'max_moves': 0})
        self.assertEqual((202, 'nothing-to-do', False, {}), (
            kept.status_code, kept.json()['plan']['status'],
            kept.json()['plan']['disabled_host'], self.nova.disabled))
        started = self.admin.post(self.url('/v1/rebalance'),
                                  json={'drain': 'hot'})
        plan = started.json()['plan']
        self.assertEqual((202, True), (started.status_code,
                                       plan['disabled_host']))
        self.assertEqual({'hot': f'cryptomine: drained by plan {plan["id"]}'},
                         self.nova.disabled)
        self.assertEqual('succeeded', self.finished(plan['id'])['status'])

    def test_rebalance_moves_and_abort_of_a_finished_plan(self):
        started = self.admin.post(self.url('/v1/rebalance'),
                                  json={'max_moves': 2})
        self.assertEqual(202, started.status_code)
        plan = self.finished(started.json()['plan']['id'])
        self.assertEqual('succeeded', plan['status'])
        for action in plan['actions']:
            self.assertEqual(action['destination'],
                             self.nova.host_of(action['instance']))
            # Each move, as its instance's migrations tell it.
            migrations = self.reader.get(self.url(
                f'/v1/instances/{action["instance"]}/migrations')).json()[
                'migrations']
            self.assertEqual(
                [(plan['id'], 'hot', action['destination'], True,
                  'succeeded', action['started_at'])],
                [(m['plan_id'], m['source'], m['destination'], m['live'],
                  m['status'], m['started_at']) for m in migrations])
        aborted = self.admin.post(self.url(f'/v1/plans/{plan["id"]}/abort'))
        self.assertEqual((200, 'succeeded'), (
            aborted.status_code, aborted.json()['plan']['status']))

    def test_errors(self):
        cases = [
            (400, "invalid body at dry_run: 'yes' is not of type 'boolean'",
             'POST', '/v1/plans', {'json': {'dry_run': 'yes'}}),
            (400, 'invalid body: Additional properties are not allowed '
                  "('execute' was unexpected)",
             'POST', '/v1/plans', {'json': {'execute': True}}),
            (400, 'invalid body at max_moves: -1 is less than the minimum '
                  'of 0', 'POST', '/v1/rebalance',
             {'json': {'max_moves': -1}}),
            (400, 'body is not JSON: Expecting value: line 1 column 1 '
                  '(char 0)', 'POST', '/v1/plans', {'data': b'nope'}),
            (400, "limit 'x' is not an integer", 'GET', '/v1/plans',
             {'params': {'limit': 'x'}}),
            (400, 'limit must be 1 to 1000', 'GET', '/v1/plans',
             {'params': {'limit': '0'}}),
            (400, "since 'nan' is not a number", 'GET',
             '/v1/hosts/hot/history', {'params': {'since': 'nan'}}),
            (400, "unknown metric 'gpu'; one of "
                  + ', '.join(m.value for m in sample.HostMetric),
             'GET', '/v1/hosts/hot/history', {'params': {'metric': 'gpu'}}),
            (404, "unknown host 'nope': the controller has no samples "
                  'from it', 'GET', '/v1/hosts/nope', {}),
            (404, "unknown host 'nope': the controller has no samples "
                  'from it', 'GET', '/v1/hosts/nope/history', {}),
            (400, 'kind must be one of gpu, asic', 'GET',
             '/v1/hosts/gpu1/devices/history', {}),
            (400, 'kind must be one of gpu, asic', 'GET',
             '/v1/hosts/gpu1/devices/history', {'params': {'kind': 'fpga'}}),
            (400, "unknown gpu metric 'hashrate_5s_ghs'; one of "
                  f'{list(sample.DEVICE_METRICS[sample.DeviceKind.GPU])}',
             'GET', '/v1/hosts/gpu1/devices/history',
             {'params': {'kind': 'gpu', 'metric': 'hashrate_5s_ghs'}}),
            (404, "unknown host 'nope': the controller has no samples "
                  'from it', 'GET', '/v1/hosts/nope/devices/history',
             {'params': {'kind': 'asic'}}),
            (404, f"unknown instance '{samples.instance(1000).uuid}': the "
                  'controller has no samples of it', 'GET',
             f'/v1/instances/{samples.instance(1000).uuid}/history', {}),
            (400, "unknown metric 'mem_percent'; one of cpu_percent, rss_mb",
             'GET', f'/v1/instances/{test_cli.SERVERS[0]}/history',
             {'params': {'metric': 'mem_percent'}}),
            (400, 'kind must be one of gpu, asic', 'GET',
             f'/v1/instances/{test_cli.SERVERS[0]}/devices/history', {}),
            (404, f"unknown instance '{samples.instance(1000).uuid}': the "
                  'controller has no samples of it', 'GET',
             f'/v1/instances/{samples.instance(1000).uuid}/devices/history',
             {'params': {'kind': 'gpu'}}),
            (400, "since 'soon' is not a number", 'GET',
             f'/v1/instances/{test_cli.SERVERS[0]}/migrations',
             {'params': {'since': 'soon'}}),
            (404, "plan 'nope' not found", 'GET', '/v1/plans/nope', {}),
            (404, "plan 'nope' not found", 'POST', '/v1/plans/nope/abort',
             {}),
            (404, "no compute host in aggregate 'gpu-pool'", 'POST',
             '/v1/plans', {'json': {'aggregate': 'gpu-pool'}}),
            (404, "no compute host 'nope' in nova", 'POST',
             '/v1/rebalance', {'json': {'drain': 'nope'}}),
            (400, 'cold moves are for a drain only: give drain too',
             'POST', '/v1/plans', {'json': {'cold': True}}),
            (400, 'keep_enabled is for a drain only: give drain too',
             'POST', '/v1/rebalance', {'json': {'keep_enabled': True}}),
            (400, 'invalid body: Additional properties are not allowed '
                  "('keep_enabled' was unexpected)", 'POST', '/v1/plans',
             {'json': {'drain': 'hot', 'keep_enabled': True}}),
            (404, 'no resource /v1/nothing', 'GET', '/v1/nothing', {}),
            (405, 'DELETE is not allowed on /v1/plans (only GET, POST)',
             'DELETE', '/v1/plans', {}),
        ]
        for code, message, method, path, kwargs in cases:
            with self.subTest(path=path, kwargs=kwargs):
                self.assertError(code, message, self.admin.request(
                    method, self.url(path), **kwargs))
        self.assertEqual([], self.nova.started)

    def test_busy_while_a_round_runs(self):
        self.nova.release.clear()
        plan = self.client.create_plan(dry_run=False, execute=True)
        self.assertError(409, 'another re-plan round is running',
                         self.admin.post(self.url('/v1/plans'), json={}))
        self.nova.release.set()
        self.assertEqual('succeeded', self.finished(plan['id'])['status'])


class TestPolicyFile(ApiTestCase):
    """An operator's policy.yaml overrides the defaults."""

    def start_controller(self):
        path = self.useFixture(fixtures.TempDir()).join('policy.yaml')
        with open(path, 'w') as handle:
            handle.write(f'"{policies.PLAN_CREATE}": "role:reader"\n'
                         f'"{policies.HOST_LIST}": "!"\n')
        policy_opts.set_defaults(self.conf, policy_file=path)
        return super().start_controller()

    def test_overridden_rules(self):
        self.assertEqual(201, self.reader.post(self.url('/v1/plans'),
                                               json={}).status_code)
        self.assertEqual(403, self.admin.get(self.url('/v1/hosts'))
                         .status_code)


class TestOperatorsProjectOnly(ApiTestCase):
    """The reading rules held to the operators' project, as
    doc/security.md advises where tenants hold roles in theirs."""

    def start_controller(self):
        path = self.useFixture(fixtures.TempDir()).join('policy.yaml')
        with open(path, 'w') as handle:
            handle.write('"reader": "role:reader and '
                         f'project_id:{api_server.PROJECT}"\n')
        policy_opts.set_defaults(self.conf, policy_file=path)
        return super().start_controller()

    def test_a_tenant_s_reader_reads_nothing(self):
        tenant = self.api.session(self.api.token(
            api_server.READER, project_id='f' * 32))
        guest = test_cli.SERVERS[0]
        for path, rule in (('/v1/hosts', policies.HOST_LIST),
                           (f'/v1/instances/{guest}/history',
                            policies.INSTANCE_GET),
                           (f'/v1/instances/{guest}/migrations',
                            policies.INSTANCE_GET)):
            self.assertError(
                403, f'policy does not allow {rule} to be performed',
                tenant.get(self.url(path)))
            self.assertEqual(200, self.reader.get(self.url(path))
                             .status_code)


class TestNoAuth(ApiTestCase):

    def start_controller(self):
        self.conf.set_override('auth_strategy', 'noauth', 'api')
        return super().start_controller()

    def test_every_request_is_an_administrators(self):
        anyone = self.api.session(None)
        self.assertEqual(200, anyone.get(self.url('/v1/hosts')).status_code)
        self.assertEqual(201, anyone.post(self.url('/v1/plans'),
                                          json={'dry_run': True})
                         .status_code)

    def test_command_line_without_credentials(self):
        plan = self.ok('plan', 'create', '--dry-run', '-f', 'json',
                       options=['--os-auth-type', 'none',
                                '--os-endpoint', self.api.url]).json()
        self.assertEqual(('planned', True), (plan['Status'],
                                             plan['Dry Run']))
