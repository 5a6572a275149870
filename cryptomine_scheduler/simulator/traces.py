"""Utilisation traces: what each instance asks for, step by step.

A :class:`Trace` holds, for N instances on a grid of T steps, the busy
vCPUs (cores), the memory used (MiB) and, for GPU instances, the GPU
utilisation; NaN where the instance does not exist.  An instance lives
from its first sample to its last; a gap in between repeats the sample
before it (a missed sample is not a stopped guest).

Readers:

* :func:`read_planetlab`: a directory of CoMon/CloudSim PlanetLab files,
  one per VM, one CPU % per line (5-minute steps).  Files that do not
  start with a number (``SOURCE.txt``, a README) are skipped.  PlanetLab
  gives no flavor or memory: every VM gets one vCPU (the % is of it) and
  the memory of CloudSim's VM types in turn, used in full.
* :func:`read_bitbrains`: the GWA-T-12 Bitbrains per-VM CSV files
  (gzipped or plain, ``;\\t`` separated, first column Unix seconds
  although its header says ms), one file or a directory of them.  Rows
  with no CPU provisioned are missing samples; the flavor is the largest
  provisioning seen.
* :func:`read_csv`: this project's own CSV (:data:`CSV_COLUMNS`), which
  :func:`write_csv` writes.
"""

import csv
import dataclasses
import gzip
import math
import os
from collections.abc import Iterable
from collections.abc import Sequence

import numpy as np

from cryptomine_scheduler.scoring import Accelerator

#: Seconds between PlanetLab and Bitbrains samples.
FIVE_MINUTES = 300.0
#: Memory (MiB) of CloudSim's four PlanetLab VM types, given in turn.
PLANETLAB_MEMORY_MB = (870, 1740, 1740, 613)
#: Our CSV: required columns, then optional ones.
CSV_COLUMNS = ('timestamp', 'instance', 'vcpus', 'memory_mb', 'cpu_percent',
               'rss_mb')
CSV_OPTIONAL = ('accelerator', 'gpu_percent')
_BITBRAINS_SUFFIXES = ('.csv', '.csv.gz')


class TraceError(ValueError):
    """A trace file cannot be read."""


@dataclasses.dataclass(frozen=True)
class Trace:
    """N instances over T steps of ``step`` seconds from Unix ``start``.

    ``cpu`` is busy vCPUs, ``rss_mb`` memory used, ``gpu`` the GPU
    utilisation (%) of GPU instances (NaN for the others; None when no
    instance has a GPU); all (N, T), NaN where the instance is absent.
    ``vcpus``, ``memory_mb`` and ``accelerators`` are the flavors.
    """

    step: float
    start: float
    instances: tuple[str, ...]
    vcpus: np.ndarray
    memory_mb: np.ndarray
    accelerators: tuple[Accelerator | None, ...]
    cpu: np.ndarray
    rss_mb: np.ndarray
    gpu: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return self.cpu.shape[1]

    @property
    def alive(self) -> np.ndarray:
        """(N, T) True where the instance exists."""
        return ~np.isnan(self.cpu)

    def head(self, steps: int | None = None,
             instances: int | None = None) -> 'Trace':
        """The first ``steps`` steps of the first ``instances`` instances,
        without the instances that have no sample left."""
        cut = slice(None, steps)
        keep = np.arange(len(self.instances))[:instances]
        keep = keep[self.alive[keep, cut].any(axis=1)]
        return dataclasses.replace(
            self, instances=tuple(self.instances[i] for i in keep),
            vcpus=self.vcpus[keep], memory_mb=self.memory_mb[keep],
            accelerators=tuple(self.accelerators[i] for i in keep),
            cpu=self.cpu[keep, cut], rss_mb=self.rss_mb[keep, cut],
            gpu=None if self.gpu is None else self.gpu[keep, cut])


def _fill_gaps(series: np.ndarray) -> np.ndarray:
    """Repeat the last sample over the NaN gaps inside each row."""
    known = ~np.isnan(series)
    index = np.where(known, np.arange(series.shape[1]), 0)
    np.maximum.accumulate(index, axis=1, out=index)
    filled = np.take_along_axis(series, index, axis=1)
    seen = np.maximum.accumulate(known, axis=1)
    last = known.shape[1] - 1 - np.argmax(known[:, ::-1], axis=1)
    inside = seen & (np.arange(series.shape[1]) <= last[:, None])
    return np.where(inside, filled, np.nan)


@dataclasses.dataclass(frozen=True)
class _Samples:
    """Samples of one instance at arbitrary times."""

    name: str
    vcpus: int
    memory_mb: float
    accelerator: Accelerator | None
    times: np.ndarray
    cpu: np.ndarray
    rss_mb: np.ndarray
    gpu: np.ndarray


def _infer_step(times: Iterable[np.ndarray]) -> float:
    """The most common gap between consecutive distinct timestamps."""
    gaps = np.concatenate([np.diff(np.unique(t)) for t in times])
    if not gaps.size:
        return FIVE_MINUTES
    values, counts = np.unique(np.round(gaps, 3), return_counts=True)
    return float(values[np.argmax(counts)])


def _grid(samples: Sequence[_Samples], step: float | None = None) -> Trace:
    """Put samples on one grid: the mean of the samples nearest each step."""
    if not samples:
        raise TraceError('the trace has no instance')
    step = step or _infer_step(s.times for s in samples)
    start = min(float(s.times.min()) for s in samples)
    slots = [np.rint((s.times - start) / step).astype(np.int64)
             for s in samples]
    n, t = len(samples), max(int(s.max()) for s in slots) + 1
    arrays = {}
    for field in ('cpu', 'rss_mb', 'gpu'):
        total, count = np.zeros((n, t)), np.zeros((n, t))
        for i, (s, slot) in enumerate(zip(samples, slots, strict=True)):
            values = getattr(s, field)
            known = ~np.isnan(values)
            np.add.at(total[i], slot[known], values[known])
            np.add.at(count[i], slot[known], 1)
        with np.errstate(invalid='ignore'):
            arrays[field] = _fill_gaps(total / count)
    # An instance lives where it has CPU samples; its other series follow.
    alive = ~np.isnan(arrays['cpu'])
    rss = np.where(alive, np.nan_to_num(arrays['rss_mb']), np.nan)
    gpu = arrays['gpu'] if (~np.isnan(arrays['gpu'])).any() else None
    return Trace(
        step=float(step), start=start,
        instances=tuple(s.name for s in samples),
        vcpus=np.array([s.vcpus for s in samples], dtype=np.int64),
        memory_mb=np.array([s.memory_mb for s in samples], dtype=float),
        accelerators=tuple(s.accelerator for s in samples),
        cpu=arrays['cpu'], rss_mb=rss,
        gpu=None if gpu is None else np.where(alive, gpu, np.nan))


def _files(path: str, suffixes: tuple[str, ...] = ()) -> list[str]:
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise TraceError(f'{path}: no such file or directory')
    names = sorted(n for n in os.listdir(path)
                   if not n.startswith('.') and n.endswith(suffixes or ''))
    return [os.path.join(path, n) for n in names
            if os.path.isfile(os.path.join(path, n))]


def _open_text(path: str):
    """A text stream of ``path``, gunzipped if it is gzip."""
    with open(path, 'rb') as raw:
        magic = raw.read(2)
    if magic == b'\x1f\x8b':
        return gzip.open(path, 'rt', encoding='utf-8')
    return open(path, encoding='utf-8')


def _starts_with_number(path: str) -> bool:
    with open(path, 'rb') as f:
        first = f.read(64).split()
    try:
        float(first[0])
    except (IndexError, ValueError):
        return False
    return True


def read_planetlab(path: str,
                   memory_mb: Sequence[int] = PLANETLAB_MEMORY_MB) -> Trace:
    """Read a PlanetLab directory (or one file); see the module docstring.

    VM ``n`` (in file name order) gets ``memory_mb[n % len(memory_mb)]``.
    """
    files = [f for f in _files(path) if _starts_with_number(f)]
    if not files:
        raise TraceError(f'{path}: no PlanetLab file')
    series = []
    for name in files:
        with open(name, encoding='utf-8') as f:
            try:
                series.append(np.array(f.read().split(), dtype=float))
            except ValueError as exc:
                raise TraceError(f'{name}: {exc}') from None
    length = max(len(s) for s in series)
    cpu = np.full((len(series), length), np.nan)
    for i, s in enumerate(series):
        cpu[i, :len(s)] = s
    if np.nanmin(cpu) < 0 or np.nanmax(cpu) > 100:
        raise TraceError(f'{path}: CPU % outside 0-100')
    memory = np.array([memory_mb[i % len(memory_mb)]
                       for i in range(len(files))], dtype=float)
    return Trace(step=FIVE_MINUTES, start=0.0,
                 instances=tuple(os.path.basename(f) for f in files),
                 vcpus=np.ones(len(files), dtype=np.int64),
                 memory_mb=memory, accelerators=(None,) * len(files),
                 cpu=cpu / 100.0,
                 rss_mb=np.where(np.isnan(cpu), np.nan, memory[:, None]))


def _bitbrains_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in sorted(_BITBRAINS_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _read_bitbrains_file(path: str) -> _Samples:
    # Columns: 0 time (s), 1 cores, 4 CPU usage %, 5 memory provisioned
    # (KB), 6 memory used (KB).
    try:
        with _open_text(path) as f:
            rows = np.loadtxt(f, delimiter=';', skiprows=1, ndmin=2,
                              usecols=(0, 1, 4, 5, 6))
    except (OSError, ValueError, EOFError) as exc:
        raise TraceError(f'{path}: {exc}') from None
    provisioned = rows[:, 1] > 0
    if not provisioned.any():
        raise TraceError(f'{path}: no row with CPU provisioned')
    used = rows[provisioned]
    return _Samples(
        name=_bitbrains_name(path), vcpus=int(used[:, 1].max()),
        memory_mb=float(used[:, 3].max()) / 1024.0, accelerator=None,
        times=used[:, 0], cpu=used[:, 2] * used[:, 1] / 100.0,
        rss_mb=used[:, 4] / 1024.0, gpu=np.full(len(used), np.nan))


def read_bitbrains(path: str) -> Trace:
    """Read Bitbrains GWA-T-12 files; see the module docstring."""
    files = _files(path, _BITBRAINS_SUFFIXES)
    if not files:
        raise TraceError(f'{path}: no Bitbrains .csv or .csv.gz file')
    return _grid([_read_bitbrains_file(f) for f in files], FIVE_MINUTES)


#: Our CSV's numbers that have bounds: (least, most).  A VM can use a
#: little more than its vCPUs' nominal speed (Bitbrains records up to
#: 106 %), so only the GPU % has a ceiling.
_CSV_BOUNDS = {'vcpus': (1.0, math.inf), 'memory_mb': (0.0, math.inf),
               'cpu_percent': (0.0, math.inf), 'rss_mb': (0.0, math.inf),
               'gpu_percent': (0.0, 100.0)}


def _number(row: dict, column: str, where: str) -> float:
    """The column's number, finite and within :data:`_CSV_BOUNDS`; NaN if
    empty and optional."""
    value = (row.get(column) or '').strip()
    if not value:
        if column in CSV_COLUMNS:
            raise TraceError(f'{where}: {column} is empty')
        return math.nan
    try:
        number = float(value)
    except ValueError:
        raise TraceError(f'{where}: {column}={value!r} is not a number'
                         ) from None
    if not math.isfinite(number):
        raise TraceError(f'{where}: {column}={value!r} is not finite')
    least, most = _CSV_BOUNDS.get(column, (-math.inf, math.inf))
    if not least <= number <= most:
        span = f'{least:g}-{most:g}' if most < math.inf else f'>= {least:g}'
        raise TraceError(f'{where}: {column}={value!r} is not {span}')
    return number


class _Content:
    """The lines of ``stream`` but blank ones and comments (``#``);
    ``line`` is the number in the file of the last one read."""

    def __init__(self, stream: Iterable[str]):
        self._lines = enumerate(stream, 1)
        self.line = 0

    def __iter__(self) -> '_Content':
        return self

    def __next__(self) -> str:
        for number, text in self._lines:
            if text.strip() and not text.startswith('#'):
                self.line = number
                return text
        raise StopIteration


def read_csv(path: str) -> Trace:
    """Read our CSV: a header naming at least :data:`CSV_COLUMNS` (any
    order; :data:`CSV_OPTIONAL` may follow), one row per instance and
    sample; lines starting with ``#`` are comments.  ``cpu_percent`` is of
    the instance's vCPUs, ``gpu_percent`` of its GPU, ``accelerator`` one
    of cpu, gpu, asic or empty.  A flavor column must not change within
    an instance.  The step is the most common gap between timestamps.
    Every number is finite and within :data:`_CSV_BOUNDS`, ``vcpus``
    whole; an error names the file's line and the column.
    """
    found: dict[str, dict] = {}
    with _open_text(path) as f:
        content = _Content(f)
        reader = csv.DictReader(content)
        missing = set(CSV_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise TraceError(f'{path}: missing columns {sorted(missing)}')
        for row in reader:
            where = f'{path}:{content.line}'
            name = row['instance']
            vcpus = _number(row, 'vcpus', where)
            if not vcpus.is_integer():
                raise TraceError(f'{where}: vcpus={row["vcpus"]!r} is not '
                                 'an integer')
            flavor = (int(vcpus), _number(row, 'memory_mb', where),
                      (row.get('accelerator') or '').strip().lower())
            entry = found.setdefault(name, {'flavor': flavor, 'rows': []})
            if entry['flavor'] != flavor:
                raise TraceError(f'{where}: the flavor of {name} changed')
            entry['rows'].append(
                [_number(row, c, where) for c in
                 ('timestamp', 'cpu_percent', 'rss_mb', 'gpu_percent')])
    samples = []
    for name, entry in found.items():
        vcpus, memory, kind = entry['flavor']
        try:
            accelerator = Accelerator(kind) if kind else None
        except ValueError:
            raise TraceError(f'{path}: {name}: unknown accelerator '
                             f'{kind!r}') from None
        rows = np.array(entry['rows'], dtype=float)
        samples.append(_Samples(
            name=name, vcpus=vcpus, memory_mb=memory,
            accelerator=accelerator, times=rows[:, 0],
            cpu=rows[:, 1] * vcpus / 100.0, rss_mb=rows[:, 2],
            gpu=rows[:, 3]))
    return _grid(samples)


def _text(value: float) -> str:
    return '' if math.isnan(value) else repr(float(value))


def write_csv(trace: Trace, path: str) -> None:
    """Write ``trace`` in our CSV format (read back by :func:`read_csv`),
    instance by instance."""
    with open(path, 'w', newline='', encoding='utf-8') as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS + CSV_OPTIONAL)
        for i in range(len(trace.instances)):
            kind = trace.accelerators[i]
            for t in np.flatnonzero(trace.alive[i]):
                gpu = math.nan if trace.gpu is None else trace.gpu[i, t]
                out.writerow([
                    _text(trace.start + t * trace.step), trace.instances[i],
                    int(trace.vcpus[i]), _text(trace.memory_mb[i]),
                    _text(trace.cpu[i, t] / trace.vcpus[i] * 100.0),
                    _text(trace.rss_mb[i, t]),
                    kind.value if kind else '', _text(gpu)])


READERS = {
    'planetlab': read_planetlab,
    'bitbrains': read_bitbrains,
    'csv': read_csv,
}


def read(trace_format: str, path: str) -> Trace:
    """Read ``path`` with the reader of ``trace_format`` (:data:`READERS`)."""
    try:
        reader = READERS[trace_format]
    except KeyError:
        raise TraceError(f'unknown trace format {trace_format!r}') from None
    return reader(path)
