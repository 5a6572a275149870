"""The host CPUs that nova's compute gives guests.

nova-compute runs guests on ``[compute] cpu_shared_set`` and
``cpu_dedicated_set`` (their union), or on the older ``[DEFAULT]
vcpu_pin_set`` when neither is set, or on every CPU.  The collector
measures the host's and the guests' CPU as shares of that set, so that
its figures scale like placement's VCPU inventory, which the planner
uses.  ``[collector] guest_cpu_set`` names the set directly; empty, the
set is read from nova's configuration files.

Sets are written in nova's syntax: comma-separated CPU numbers, ranges
``A-B`` (both ends included) and exclusions ``^N`` or ``^A-B``, which
remove CPUs whatever their position in the list, e.g. ``4-31,^8,40``.
"""

import dataclasses
import re

from oslo_config import cfg
from oslo_config import types

#: CPU numbers go up to the kernel's largest ``CONFIG_NR_CPUS`` less one.
MAX_CPUS = 8192
#: One element: an optional ``^``, a number, an optional ``-`` and
#: number, blanks around each part.
_ELEMENT = re.compile(r'\s*(\^?)\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?',
                      re.ASCII)
#: nova's options naming its guests' CPUs, by section, in the order
#: nova weighs them: the first two together, else the third.
NOVA_OPTIONS = (('compute', 'cpu_shared_set'),
                ('compute', 'cpu_dedicated_set'))
NOVA_LEGACY_OPTION = ('DEFAULT', 'vcpu_pin_set')


class CpuSetError(ValueError):
    """A CPU set that does not parse, or leaves no CPU."""


def parse(spec: str) -> frozenset[int]:
    """The CPUs a set in nova's syntax names; CpuSetError if it is
    malformed, names a CPU beyond :data:`MAX_CPUS` or leaves none.

    Empty elements (``1,,2``, a trailing comma) are skipped, as nova
    skips them.
    """
    included: set[int] = set()
    excluded: set[int] = set()
    for element in spec.split(','):
        if not element.strip():
            continue
        match = _ELEMENT.fullmatch(element)
        if match is None:
            raise CpuSetError(
                f'{element.strip()!r} in CPU set {spec!r} is neither a CPU '
                f'number, a range A-B nor an exclusion ^N or ^A-B')
        caret, first, last = match.groups()
        start = int(first)
        end = start if last is None else int(last)
        if start > end:
            raise CpuSetError(f'range {element.strip()!r} in CPU set '
                              f'{spec!r} ends before it starts')
        if end >= MAX_CPUS:
            raise CpuSetError(f'CPU {end} in CPU set {spec!r} is beyond '
                              f'the largest possible, {MAX_CPUS - 1}')
        (excluded if caret else included).update(range(start, end + 1))
    cpus = frozenset(included - excluded)
    if not cpus:
        raise CpuSetError(f'CPU set {spec!r} names no CPU')
    return cpus


def describe(cpus: frozenset[int]) -> str:
    """``cpus`` in nova's syntax, ranges joined: ``0-3,8``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][1] == cpu - 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ','.join(str(a) if a == b else f'{a}-{b}' for a, b in runs)


def line_cpu(line: bytes) -> int:
    """The CPU number of a ``cpuN ...`` line of ``/proc/stat``."""
    return int(line[3:line.index(b' ')])


class CpuSetType(types.String):
    """An option holding a CPU set: empty, or one :func:`parse` takes."""

    def __call__(self, value):
        value = super().__call__(value)
        if value.strip():
            parse(value)
        return value


@dataclasses.dataclass(frozen=True)
class GuestCpus:
    """The CPUs guests run on, and where that was learnt."""

    #: None: every CPU of the host.
    cpus: frozenset[int] | None
    origin: str
    #: nova's configuration files that could not be read.
    unreadable: tuple[str, ...] = ()


def _nova_values(paths: list[str]) -> tuple[dict[tuple[str, str], str],
                                            list[str]]:
    """nova's CPU-set options as set in ``paths``, later files and lines
    overriding earlier ones as in oslo.config, and the paths that could
    not be read."""
    wanted = {*NOVA_OPTIONS, NOVA_LEGACY_OPTION}
    values: dict[tuple[str, str], str] = {}
    unreadable = []
    for path in paths:
        sections: dict[str, dict[str, list[str]]] = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except OSError:
            unreadable.append(path)
            continue
        except cfg.ParseError as exc:
            raise CpuSetError(f'nova configuration {exc}') from None
        for section, options in sections.items():
            group = section if section == 'DEFAULT' else section.lower()
            for name, found in options.items():
                if (group, name) in wanted:
                    values[group, name] = found[-1]
    return values, unreadable


def from_nova(paths: list[str]) -> GuestCpus:
    """The guest CPUs nova's configuration files ``paths`` set."""
    values, unreadable = _nova_values(paths)
    read = ', '.join(paths)
    chosen = [key for key in NOVA_OPTIONS if values.get(key, '').strip()]
    if not chosen and values.get(NOVA_LEGACY_OPTION, '').strip():
        chosen = [NOVA_LEGACY_OPTION]
    cpus: frozenset[int] = frozenset()
    for section, name in chosen:
        try:
            cpus |= parse(values[section, name])
        except CpuSetError as exc:
            raise CpuSetError(f'[{section}] {name} of nova ({read}): '
                              f'{exc}') from None
    if not cpus:
        readable = ', '.join(p for p in paths if p not in unreadable)
        return GuestCpus(None, f'all CPUs, none set in the nova '
                               f'configuration read ({readable or "none"})',
                         tuple(unreadable))
    names = ' and '.join(f'[{s}] {n}' for s, n in chosen)
    return GuestCpus(cpus, f'{names} of nova ({read})', tuple(unreadable))


def guest_cpus(conf: cfg.ConfigOpts) -> GuestCpus:
    """``[collector] guest_cpu_set``, else what nova's configuration
    files (``nova_config_files``) set; CpuSetError for a bad one."""
    try:
        spec = conf.collector.guest_cpu_set
    except cfg.ConfigFileValueError as exc:
        raise CpuSetError(str(exc)) from None
    if spec.strip():
        return GuestCpus(parse(spec), '[collector] guest_cpu_set')
    return from_nova(conf.collector.nova_config_files)
