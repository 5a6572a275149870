"""Utilisation traces: what each instance asks for, step by step.

A :class:`Trace` holds, for N instances on a grid of T steps, the busy
vCPUs (cores), the memory used (MiB) and, for GPU instances, the GPU
utilisation; NaN where the instance does not exist.  An instance lives
from its first sample to its last; a gap in between repeats the sample
before it (a missed sample is not a stopped guest).

Readers:

* :func:`read_planetlab`: a directory of CoMon/CloudSim PlanetLab files,
  one per VM, one CPU % per line (5-minute steps), a day each: every
  file has :data:`PLANETLAB_STEPS` lines, so a shorter one was cut short.
  Files that do not start with a number (``SOURCE.txt``, a README) are
  skipped.  PlanetLab gives no flavor or memory: every VM gets one vCPU
  (the % is of it) and the memory of CloudSim's VM types in turn, used
  in full.
* :func:`read_bitbrains`: the GWA-T-12 Bitbrains per-VM CSV files
  (gzipped or plain, ``;\\t`` separated, first column Unix seconds
  although its header says ms), one file or a directory of them.  Rows
  with no CPU provisioned are missing samples; the flavor is the largest
  provisioning seen.
* :func:`read_csv`: this project's own CSV (:data:`CSV_COLUMNS`), which
  :func:`write_csv` writes.

Any file may be gzipped.  Every problem with a file (missing, a
directory, unreadable, a damaged gzip, not UTF-8, a line that does not
parse, a PlanetLab file cut short) raises :class:`TraceError`, whose
message is one line naming the file and, where one applies, the line.
"""

import csv
import dataclasses
import io
import math
import os
from collections.abc import Iterable
from collections.abc import Sequence

import numpy as np

from cryptomine_scheduler.placement.scoring import Accelerator
from cryptomine_scheduler.simulator import files

#: Seconds between PlanetLab and Bitbrains samples.
FIVE_MINUTES = 300.0
#: Lines of a PlanetLab file: a day of 5-minute steps.
PLANETLAB_STEPS = 288
#: Memory (MiB) of CloudSim's four PlanetLab VM types, given in turn.
PLANETLAB_MEMORY_MB = (870, 1740, 1740, 613)
#: Our CSV: required columns, then optional ones.
CSV_COLUMNS = ('timestamp', 'instance', 'vcpus', 'memory_mb', 'cpu_percent',
               'rss_mb')
CSV_OPTIONAL = ('accelerator', 'gpu_percent')
_BITBRAINS_SUFFIXES = ('.csv', '.csv.gz')
#: The Bitbrains columns read, by index: time (s), cores, CPU usage %,
#: memory provisioned (KB), memory used (KB).
_BITBRAINS_COLUMNS = {0: 'Timestamp', 1: 'CPU cores', 4: 'CPU usage [%]',
                      5: 'Memory capacity provisioned [KB]',
                      6: 'Memory usage [KB]'}


class TraceError(files.InputError):
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
    """``[path]`` if it is a file, else the files of directory ``path``
    whose names end with one of ``suffixes`` (any if none)."""
    found = files.listing(path, TraceError)
    if suffixes and os.path.isdir(path):
        found = [f for f in found if f.endswith(suffixes)]
    return found


def _is_number(word: bytes) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _is_text(word: bytes) -> bool:
    try:
        word.decode('utf-8')
    except UnicodeDecodeError:
        return False
    return True


def _planetlab_text(path: str) -> str | None:
    """The text of PlanetLab file ``path``; None if its first word is
    text that is not a number (``SOURCE.txt``, a README)."""
    data = files.read_bytes(path, TraceError)
    first = data.split(maxsplit=1)[:1]
    if not first:
        raise TraceError(f'{path}: empty, expected one CPU % per line')
    if not _is_number(first[0]) and _is_text(first[0]):
        return None
    return files.decode(path, data, TraceError)


def _planetlab_series(path: str, text: str) -> np.ndarray:
    """The CPU % of each line of ``text`` but the blank ones."""
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        word = line.strip()
        if not word:
            continue
        try:
            value = float(word)
        except ValueError:
            raise TraceError(f'{path}:{number}: {word!r} is not a CPU %'
                             ) from None
        if not 0.0 <= value <= 100.0:  # NaN included
            raise TraceError(f'{path}:{number}: CPU % {word!r} is not '
                             '0-100')
        values.append(value)
    return np.array(values)


def _check_lengths(series: dict[str, np.ndarray], steps: int | None) -> None:
    """Refuse a file with other than ``steps`` lines (None: than the
    longest file)."""
    if steps is None:
        expected = max(len(s) for s in series.values())
        why = ' as the longest file'
    else:
        expected = steps
        why = (' (a day of 5-minute steps)' if steps == PLANETLAB_STEPS
               else '')
    for name, values in series.items():
        if len(values) != expected:
            cut = 'cut short: ' if len(values) < expected else ''
            raise TraceError(f'{name}: {cut}{len(values)} CPU % lines, '
                             f'expected {expected}{why}')


def read_planetlab(path: str,
                   memory_mb: Sequence[int] = PLANETLAB_MEMORY_MB,
                   steps: int | None = PLANETLAB_STEPS) -> Trace:
    """Read a PlanetLab directory (or one file); see the module docstring.

    Every file must have ``steps`` CPU % lines (None: as many as the
    longest).  VM ``n`` (in file name order) gets
    ``memory_mb[n % len(memory_mb)]``.
    """
    series = {}
    for name in _files(path):
        text = _planetlab_text(name)
        if text is not None:
            series[name] = _planetlab_series(name, text)
    if not series:
        raise TraceError(f'{path}: no PlanetLab file')
    _check_lengths(series, steps)
    cpu = np.array(list(series.values()), dtype=float)
    memory = np.array([memory_mb[i % len(memory_mb)]
                       for i in range(len(series))], dtype=float)
    return Trace(step=FIVE_MINUTES, start=0.0,
                 instances=tuple(os.path.basename(f) for f in series),
                 vcpus=np.ones(len(series), dtype=np.int64),
                 memory_mb=memory, accelerators=(None,) * len(series),
                 cpu=cpu / 100.0,
                 rss_mb=np.repeat(memory[:, None], cpu.shape[1], axis=1))


def _bitbrains_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in sorted(_BITBRAINS_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return name[:-len(suffix)]
    return name


def _bitbrains_problem(line: str) -> str | None:
    """What is wrong with Bitbrains data line ``line``; None if nothing."""
    fields = line.split(';')
    if len(fields) <= max(_BITBRAINS_COLUMNS):
        return (f'{len(fields)} fields, expected at least '
                f'{max(_BITBRAINS_COLUMNS) + 1} (cut short?)')
    for index, name in _BITBRAINS_COLUMNS.items():
        word = fields[index].strip()
        try:
            value = float(word)
        except ValueError:
            return f'{name} {word!r} is not a number'
        if not math.isfinite(value):
            return f'{name} {word!r} is not finite'
        if index and value < 0:
            return f'{name} {word!r} is negative'
    return None


def _bitbrains_rows(path: str) -> np.ndarray:
    """The :data:`_BITBRAINS_COLUMNS` of each data line of ``path``
    (after its header); an error names the line."""
    lines = files.read_text(path, TraceError).splitlines()
    numbered = [(n, line) for n, line in enumerate(lines[1:], 2)
                if line.strip()]
    if not numbered:
        raise TraceError(f'{path}: no data row after the header')
    try:
        rows = np.loadtxt([line for _, line in numbered], delimiter=';',
                          comments=None, ndmin=2,
                          usecols=tuple(_BITBRAINS_COLUMNS))
    except ValueError as exc:
        suspects = numbered
        fallback = f'{path}: {exc}'
    else:
        bad = ~np.isfinite(rows).all(axis=1) | (rows[:, 1:] < 0).any(axis=1)
        if not bad.any():
            return rows
        suspects = [numbered[int(np.argmax(bad))]]
        fallback = f'{path}:{suspects[0][0]}: a number out of range'
    for number, line in suspects:
        problem = _bitbrains_problem(line)
        if problem:
            raise TraceError(f'{path}:{number}: {problem}')
    raise TraceError(fallback)


def _read_bitbrains_file(path: str) -> _Samples:
    rows = _bitbrains_rows(path)
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


def _csv_rows(path: str, content: _Content) -> dict[str, dict]:
    """Each instance's flavor and rows (timestamp, cpu_percent, rss_mb,
    gpu_percent) in our CSV ``content``, checked."""
    found: dict[str, dict] = {}
    reader = csv.DictReader(content)
    if reader.fieldnames is None:
        raise TraceError(f'{path}: empty, expected a header')
    missing = set(CSV_COLUMNS) - set(reader.fieldnames)
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
    return found


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
    content = _Content(io.StringIO(files.read_text(path, TraceError),
                                   newline=None))
    try:
        found = _csv_rows(path, content)
    except csv.Error as exc:
        raise TraceError(f'{path}:{content.line}: {exc}') from None
    if not found:
        raise TraceError(f'{path}: no data row after the header')
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
