"""Watcher's own strategies on the simulator's state (the ``watcher``
extra: python-watcher).

An audit builds Watcher's compute model (a ``ModelRoot`` of compute
nodes and the instances nova lists on them) and a datasource answering
its CPU queries from a :class:`.watcher.Cluster`, runs the strategy
class with its default parameters (the threshold excepted), and returns
the migrations of its solution in order.  Nothing else of Watcher runs:
no service, database or applier.
"""

import logging
import random

from watcher.common import utils as watcher_utils
from watcher.decision_engine.datasources import base as datasource_base
from watcher.decision_engine.model import element
from watcher.decision_engine.model import model_root
from watcher.decision_engine.strategy.strategies import workload_balance
from watcher.decision_engine.strategy.strategies import workload_stabilization

from cryptomine_scheduler.simulator.watcher import Cluster
from cryptomine_scheduler.simulator.watcher import Move

# Watcher logs every audit at INFO, and warns of every audit without a
# destination.
logging.getLogger('watcher').setLevel(logging.ERROR)


class Datasource(datasource_base.DataSourceBase):
    """The mean CPU usage of hosts and instances over a period, from the
    cluster's samples; None (no values) for anything else."""

    NAME = 'simulator'
    METRIC_MAP = {'host_cpu_usage': 'host_cpu_usage',
                  'instance_cpu_usage': 'instance_cpu_usage'}

    def __init__(self, cluster: Cluster):
        super().__init__()
        self._cluster = cluster
        self._hosts = {name: k for k, name in enumerate(cluster.hosts)}
        self._instances = {name: i
                           for i, name in enumerate(cluster.instances)}
        self._means: dict = {}

    def _statistic_aggregation(self, resource=None, resource_type=None,
                               meter_name=None, period=300,
                               aggregate='mean', granularity=300):
        if aggregate != 'mean':
            return None
        if (resource_type, meter_name) == ('compute_node',
                                           'host_cpu_usage'):
            index, mean = self._hosts, self._cluster.host_percent
        elif (resource_type, meter_name) == ('instance',
                                             'instance_cpu_usage'):
            index, mean = self._instances, self._cluster.instance_percent
        else:
            return None
        key = (meter_name, period)
        if key not in self._means:
            self._means[key] = mean(period)
        value = float(self._means[key][index[resource.uuid]])
        return None if value != value else value

    def list_metrics(self):
        return set(self.METRIC_MAP)

    def check_availability(self):
        return 'available'

    def query_retry_reset(self, exception_instance):
        pass


def model(cluster: Cluster) -> model_root.ModelRoot:
    """Watcher's compute model of ``cluster``: every host enabled and
    up, every placed instance active; no disks."""
    root = model_root.ModelRoot()
    nodes = []
    for k, name in enumerate(cluster.hosts):
        nodes.append(element.ComputeNode(
            uuid=name, hostname=name, vcpus=int(cluster.vcpus[k]),
            memory=int(cluster.memory_mb[k]), disk=0, vcpu_reserved=0,
            memory_mb_reserved=0, disk_gb_reserved=0,
            vcpu_ratio=float(cluster.ratios[k, 0]),
            memory_ratio=float(cluster.ratios[k, 1]), disk_ratio=1.0))
        root.add_node(nodes[-1])
    for i, name in enumerate(cluster.instances):
        if cluster.host_of[i] < 0:
            continue
        instance = element.Instance(
            uuid=name, name=name, vcpus=int(cluster.flavor[i, 0]),
            memory=int(cluster.flavor[i, 1]), disk=0,
            state=element.InstanceState.ACTIVE.value)
        root.add_instance(instance)
        root.map_instance(instance, nodes[cluster.host_of[i]])
    return root


def _run(strategy, cluster: Cluster, parameters: dict) -> list[Move]:
    """Execute ``strategy`` on ``cluster``; its migrations."""
    watcher_utils.StrictDefaultValidatingDraft4Validator(
        strategy.get_schema()).validate(parameters)
    strategy.input_parameters.update(parameters)
    # Watcher's decision engine sets these from its collectors; there is
    # no setter.
    strategy._compute_model = model(cluster)
    strategy._datasource_backend = Datasource(cluster)
    strategy.execute()
    hosts = {name: k for k, name in enumerate(cluster.hosts)}
    instances = {name: i for i, name in enumerate(cluster.instances)}
    return [(instances[a['input_parameters']['resource_id']],
             hosts[a['input_parameters']['destination_node']])
            for a in strategy.solution.actions
            if a['action_type'] == 'migrate']


def stabilization(cluster: Cluster, threshold: float,
                  rng: random.Random) -> list[Move]:
    """workload_stabilization's audit; ``rng`` stands for the ``random``
    module it draws destinations from."""
    strategy = workload_stabilization.WorkloadStabilization(
        config=watcher_utils.Struct(datasources=None))
    module_random = workload_stabilization.random
    workload_stabilization.random = rng
    try:
        return _run(strategy, cluster, {
            'thresholds': {'instance_cpu_usage': threshold,
                           'instance_ram_usage': threshold}})
    finally:
        workload_stabilization.random = module_random


def balance(cluster: Cluster, threshold: float) -> list[Move]:
    """workload_balance's audit; ``threshold`` in %.  An instance without
    samples on a source host it looks at fails it (a KeyError): no
    move, as Watcher's failed audit."""
    strategy = workload_balance.WorkloadBalance(
        config=watcher_utils.Struct(datasources=None))
    try:
        return _run(strategy, cluster, {'threshold': threshold})
    except KeyError:
        return []
