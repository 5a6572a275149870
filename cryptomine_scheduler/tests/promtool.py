"""The shipped alerting rules and dashboard, read by Prometheus' own
tool.

A test scrapes a controller in each phase of a story (a healthy fleet,
then a sick one), turns the scrapes into the series Prometheus would
have stored, and has ``promtool test rules`` check which alerts fire in
each phase.  The dashboard's queries are checked as PromQL by ``promtool
check rules``.
"""

import dataclasses
import json
import math
import os
import pathlib
import re
import subprocess
import tempfile

import yaml
from prometheus_client import parser

ETC = pathlib.Path(__file__).resolve().parents[2] / 'etc'
RULES = ETC / 'prometheus' / 'cryptomine-alerts.yaml'
DASHBOARD = ETC / 'grafana' / 'cryptomine-dashboard.json'
#: What the dashboard's variables stand for in a query outside Grafana.
DASHBOARD_VARIABLES = {'$host': '.*'}
JOB = 'cryptomine'
#: The labels Prometheus gives every series of a target; a label of the
#: same name in the scrape is renamed ``exported_<name>``.
TARGET_LABELS = ('job', 'instance')
#: Sample names a family of each type exposes.
SUFFIXES = {'counter': ('_total',), 'gauge': ('',), 'unknown': ('',),
            'histogram': ('_bucket', '_sum', '_count')}
_TEMPLATE = re.compile(r'\{\{ \$labels\.(\w+) \}\}')
_METRIC = re.compile(r'\bcryptomine_\w+')


@dataclasses.dataclass(frozen=True)
class Phase:
    """``minutes`` during which each target (a controller's address) is
    up and answers its scrape, or is down (None)."""

    minutes: int
    scrapes: dict[str, str | None]


def rules() -> list[dict]:
    """Every alerting rule of the shipped file."""
    with open(RULES) as f:
        groups = yaml.safe_load(f)['groups']
    return [rule for group in groups for rule in group['rules']]


def metrics_read(expr: str) -> set[str]:
    """The names of our series a PromQL expression reads."""
    return set(_METRIC.findall(expr))


def dashboard_queries() -> list[str]:
    """Every query of the shipped dashboard's panels, its variables
    replaced."""
    with open(DASHBOARD) as f:
        panels = json.load(f)['panels']
    queries = []
    for panel in panels:
        for target in panel.get('targets', ()):
            expr = target['expr']
            for name, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(name, value)
            queries.append(expr)
    return queries


def check_queries(queries: list[str]) -> subprocess.CompletedProcess:
    """``promtool check rules`` on ``queries`` as recording rules: it
    parses each as PromQL."""
    rules = {'groups': [{'name': 'queries', 'rules': [
        {'record': f'query_{n}', 'expr': expr}
        for n, expr in enumerate(queries)]}]}
    return _promtool(['check', 'rules'], rules)


def exposed(text: str) -> set[str]:
    """Every sample name the scrape's families expose, those without a
    sample yet (a counter nothing has counted) included."""
    return {family.name + suffix
            for family in parser.text_string_to_metric_families(text)
            for suffix in SUFFIXES[family.type]}


def _stored(target: str, text: str) -> dict[str, float]:
    """The scrape as Prometheus stores it: ``{series: value}``."""
    found = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            if not math.isfinite(s.value) or s.name.endswith('_created'):
                continue
            labels = {('exported_' + k if k in TARGET_LABELS else k): v
                      for k, v in s.labels.items()}
            labels.update(job=JOB, instance=target)
            found[_series(s.name, labels)] = s.value
    return found


def _series(name: str, labels: dict[str, str]) -> str:
    return name + '{' + ','.join(f'{k}={json.dumps(v)}'
                                 for k, v in sorted(labels.items())) + '}'


def input_series(phases: list[Phase]) -> list[dict]:
    """promtool's input series, a sample a minute, for the phases in
    order: each target's scraped series, and its ``up``.  A series gone
    from a phase (its target down, or no longer served) is marked stale
    at once, as Prometheus marks it."""
    stored = [{} for _ in phases]
    for i, phase in enumerate(phases):
        for target, text in phase.scrapes.items():
            stored[i][_series('up', {'job': JOB, 'instance': target})] = (
                0.0 if text is None else 1.0)
            stored[i].update(_stored(target, text or ''))
    return [{'series': name,
             'values': ' '.join(_values(name, phases, stored))}
            for name in sorted(set().union(*stored))]


def _values(name: str, phases: list[Phase], stored: list[dict]):
    """The series ``name`` in each phase, in promtool's notation."""
    before = {}
    for phase, values in zip(phases, stored, strict=True):
        if name in values:
            yield f'{values[name]!r}+0x{phase.minutes - 1}'
        elif name in before:
            yield f'stale _x{phase.minutes - 1}'
        else:
            yield f'_x{phase.minutes}'
        before = values


def expected(rule: dict, labels: dict[str, str]) -> dict:
    """One alert of ``rule`` as promtool expects it: the series'
    ``labels`` with the rule's own, and its annotations filled in."""
    return {'exp_labels': {**labels, **rule.get('labels', {})},
            'exp_annotations': {
                key: _TEMPLATE.sub(lambda m: labels[m.group(1)], text)
                for key, text in rule.get('annotations', {}).items()}}


def test_rules(phases: list[Phase],
               checks: list[tuple[str, int, list[dict]]]
               ) -> subprocess.CompletedProcess:
    """Run ``promtool test rules`` on the shipped rules: each check is an
    alert's name, the minute to evaluate it at and the alerts expected
    (:func:`expected`)."""
    test = {'rule_files': [str(RULES)], 'evaluation_interval': '1m',
            'tests': [{'interval': '1m',
                       'input_series': input_series(phases),
                       'alert_rule_test': [
                           {'eval_time': f'{minute}m', 'alertname': name,
                            'exp_alerts': alerts}
                           for name, minute, alerts in checks]}]}
    return _promtool(['test', 'rules'], test)


def _promtool(command: list[str], document: dict
              ) -> subprocess.CompletedProcess:
    """Run ``promtool COMMAND FILE`` on ``document`` written as YAML."""
    fd, path = tempfile.mkstemp(suffix='.yaml')
    try:
        with os.fdopen(fd, 'w') as f:
            yaml.safe_dump(document, f)
        return subprocess.run(['promtool', *command, path],
                              capture_output=True, text=True, check=False)
    finally:
        os.unlink(path)


def for_minutes(rule: dict) -> int:
    """The minutes the rule's condition must hold before it fires."""
    text = rule.get('for', '0m')
    return int(text[:-1]) * {'m': 1, 'h': 60}[text[-1]]
