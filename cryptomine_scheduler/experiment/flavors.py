"""Which flavor of the cloud each trace VM boots with.

A mapping file (YAML or JSON) names the flavors the experiment creates
(and deletes at its end) and the rules that pick one for a trace VM,
first match first; a rule's flavor that the file does not define must
exist in the cloud::

    flavors:                    # created as <experiment>-<name>
      small: {vcpus: 1, ram_mb: 1024, disk_gb: 2}
      large: {vcpus: 2, ram_mb: 2048, disk_gb: 2}
    rules:
      - {max_vcpus: 1, max_memory_mb: 1024, flavor: small}
      - {flavor: large}         # no bound: every other VM
    memory_scale: 0.5           # the player holds half the trace's memory
    guest_reserve_mb: 256       # and leaves this much to the guest's OS

A trace VM no rule matches is an error, found before anything boots.
"""

import dataclasses
import json
import os

import yaml

from cryptomine_scheduler.simulator import files


class MappingError(files.InputError):
    """The mapping file cannot be understood."""


@dataclasses.dataclass(frozen=True)
class FlavorSpec:
    """A flavor the experiment creates."""

    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int = 1


@dataclasses.dataclass(frozen=True)
class Rule:
    """Trace VMs within the bounds (None: any) boot with ``flavor``."""

    flavor: str
    max_vcpus: int | None = None
    max_memory_mb: float | None = None

    def matches(self, vcpus: int, memory_mb: float) -> bool:
        return ((self.max_vcpus is None or vcpus <= self.max_vcpus)
                and (self.max_memory_mb is None
                     or memory_mb <= self.max_memory_mb))


@dataclasses.dataclass(frozen=True)
class Mapping:
    flavors: tuple[FlavorSpec, ...]
    rules: tuple[Rule, ...]
    memory_scale: float = 1.0
    guest_reserve_mb: float = 256.0

    def flavor_for(self, vcpus: int, memory_mb: float) -> str:
        """The name (of the file) of the flavor a trace VM boots with."""
        for rule in self.rules:
            if rule.matches(vcpus, memory_mb):
                return rule.flavor
        raise MappingError(f'no rule for a trace VM of {vcpus} vCPUs and '
                           f'{memory_mb:g} MB')

    def created(self, name: str) -> FlavorSpec | None:
        """The spec of flavor ``name`` if the experiment creates it."""
        return next((f for f in self.flavors if f.name == name), None)


def _positive_int(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MappingError(f'{where}: expected a whole number above 0, '
                           f'not {value!r}')
    return value


def _number(value, where: str, least: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not value >= least:
        raise MappingError(f'{where}: expected a number of at least '
                           f'{least:g}, not {value!r}')
    return float(value)


def _flavor(name: str, spec, where: str) -> FlavorSpec:
    if not isinstance(spec, dict):
        raise MappingError(f'{where}: expected a mapping')
    unknown = set(spec) - {'vcpus', 'ram_mb', 'disk_gb'}
    if unknown:
        raise MappingError(f'{where}: unknown keys {sorted(unknown)}')
    return FlavorSpec(
        name=name, vcpus=_positive_int(spec.get('vcpus'), f'{where}: vcpus'),
        ram_mb=_positive_int(spec.get('ram_mb'), f'{where}: ram_mb'),
        disk_gb=_positive_int(spec.get('disk_gb', 1), f'{where}: disk_gb'))


def _rule(spec, where: str) -> Rule:
    if not isinstance(spec, dict) or not isinstance(spec.get('flavor'), str):
        raise MappingError(f'{where}: expected a mapping with a flavor')
    unknown = set(spec) - {'flavor', 'max_vcpus', 'max_memory_mb'}
    if unknown:
        raise MappingError(f'{where}: unknown keys {sorted(unknown)}')
    vcpus, memory = spec.get('max_vcpus'), spec.get('max_memory_mb')
    return Rule(
        flavor=spec['flavor'],
        max_vcpus=(None if vcpus is None
                   else _positive_int(vcpus, f'{where}: max_vcpus')),
        max_memory_mb=(None if memory is None
                       else _number(memory, f'{where}: max_memory_mb')))


def parse(data, where: str) -> Mapping:
    """The mapping of ``data`` (a parsed file); errors name ``where``."""
    if not isinstance(data, dict) or not isinstance(data.get('rules'), list) \
            or not data['rules']:
        raise MappingError(f'{where}: expected a mapping with a list of '
                           '"rules"')
    unknown = set(data) - {'flavors', 'rules', 'memory_scale',
                           'guest_reserve_mb'}
    if unknown:
        raise MappingError(f'{where}: unknown keys {sorted(unknown)}')
    defined = data.get('flavors') or {}
    if not isinstance(defined, dict):
        raise MappingError(f'{where}: flavors: expected a mapping')
    return Mapping(
        flavors=tuple(_flavor(str(name), spec, f'{where}: flavors: {name}')
                      for name, spec in defined.items()),
        rules=tuple(_rule(spec, f'{where}: rules: {n}')
                    for n, spec in enumerate(data['rules'])),
        memory_scale=_number(data.get('memory_scale', 1.0),
                             f'{where}: memory_scale'),
        guest_reserve_mb=_number(data.get('guest_reserve_mb', 256.0),
                                 f'{where}: guest_reserve_mb'))


def load(path: str) -> Mapping:
    """Read a mapping file (module docstring), YAML or JSON."""
    text = files.read_text(path, MappingError)
    try:
        data = (json.loads(text)
                if os.path.splitext(path)[1].lower() == '.json'
                else yaml.safe_load(text))
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingError(f'{path}: {str(exc).splitlines()[0]}') from None
    return parse(data, path)
