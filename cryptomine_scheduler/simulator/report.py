"""A comparison as a table, a JSON file and PNG plots.

:func:`write` puts into a folder ``report.json`` (the figures, the
settings, the trace and the fleet), ``heatmap.png`` (each host's CPU
load over time, one panel per policy), ``gpu-heatmap.png`` (each GPU's
thermal headroom over time, one panel per policy; only for a fleet with
GPUs), ``sigma.png`` (the standard
deviation of the hosts' CPU load over time) and ``cdf.png`` (the
distribution of the active hosts' CPU load).  Plots are drawn with
matplotlib's Agg canvas, without pyplot's global state or a display.
"""

import dataclasses
import json
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cryptomine_scheduler.simulator import comparison as comparison_mod
from cryptomine_scheduler.simulator import metrics

#: (heading, Figures field, format) of the table's columns.
COLUMNS = (
    ('policy', 'policy', '{}'),
    ('overload %', 'overload', '{:.2%}'),
    ('even overload %', 'even_overload', '{:.2%}'),
    ('p95 load %', 'p95_load', '{:.1f}'),
    ('max load %', 'max_load', '{:.1f}'),
    ('mean sigma %', 'mean_sigma', '{:.1f}'),
    # Within each kind of host, on a fleet of several.
    ('sigma CPU hosts %', 'sigma_cpu_hosts', '{:.1f}'),
    ('sigma GPU hosts %', 'sigma_gpu_hosts', '{:.1f}'),
    ('sigma ASIC hosts %', 'sigma_asic_hosts', '{:.1f}'),
    ('migrations', 'migrations', '{:d}'),
    ('GB moved', 'migrated_gb', '{:.1f}'),
    ('cold moves', 'cold_migrations', '{:d}'),
    ('no room', 'no_room_boots', '{:d}'),
    ('refused', 'refused_boots', '{:d}'),
    ('moves refused', 'refused_migrations', '{:d}'),
    # The burst section.
    ('burst host-h', 'burst_host_hours', '{:.1f}'),
    ('burst cost', 'burst_cost', '{:.1f}'),
    ('overload host-h', 'overload_host_hours', '{:.1f}'),
    # The GPU/ASIC section.
    ('GPU hot %', 'gpu_hot', '{:.2%}'),
    ('GPU hash lost %', 'gpu_throttle_lost', '{:.2%}'),
    ('ASIC hash lost %', 'asic_lost', '{:.2%}'),
    ('over power budget %', 'power_over', '{:.2%}'),
    ('planning s', 'planning_seconds', '{:.2f}'),
    ('ms/plan', 'seconds_per_plan', '{:.1f}'),
)


def _cell(figures: metrics.Figures, field: str, fmt: str) -> str:
    value = getattr(figures, field)
    if value is None:
        return '-'
    if field == 'seconds_per_plan':
        value *= 1000.0
    return fmt.format(value).rstrip('%')


def rows(result: comparison_mod.Comparison) -> tuple[tuple, list[tuple]]:
    """The table's headings and one row of text cells per policy; the
    burst columns only when the fleet has burst hosts, the GPU ones only
    when it has GPU hosts, the ASIC one only when it has ASIC hosts, the
    sigma of each kind of host only for the kinds of a fleet of several,
    the cold migrations only when some kind of guest may move cold."""
    kinds = set(result.fleet.kinds)
    left_out = {f'sigma_{kind}_hosts' for kind in ('cpu', 'gpu', 'asic')
                if kind not in kinds or len(kinds) < 2}
    if not result.fleet.burst.any():
        left_out |= {'burst_host_hours', 'burst_cost',
                     'overload_host_hours'}
    if not result.fleet.gpus.any():
        left_out |= {'gpu_hot', 'gpu_throttle_lost'}
    if not result.fleet.asics.any():
        left_out.add('asic_lost')
    if not result.settings.cold_migration:
        left_out.add('cold_migrations')
    if all(f.power_over is None for f in result.figures):
        left_out.add('power_over')
    columns = [c for c in COLUMNS if c[1] not in left_out]
    return (tuple(c[0] for c in columns),
            [tuple(_cell(f, field, fmt) for _, field, fmt in columns)
             for f in result.figures])


def table(result: comparison_mod.Comparison) -> str:
    """The comparison as fixed-width text."""
    headings, body = rows(result)
    widths = [max(len(str(c)) for c in column)
              for column in zip(headings, *body, strict=True)]
    lines = ['  '.join(str(c).rjust(w) for c, w in zip(line, widths,
                                                        strict=True))
             for line in [headings] + body]
    return '\n'.join(lines)


def describe(result: comparison_mod.Comparison) -> dict:
    """What was simulated: the trace, the fleet and the settings."""
    trace = result.trace
    return {
        'trace': {'instances': len(trace.instances), 'steps': trace.steps,
                  'step_seconds': trace.step, 'start': trace.start,
                  'hours': trace.steps * trace.step / 3600.0,
                  'mean_busy_cores': float(
                      np.nansum(trace.cpu, axis=0).mean())},
        'fleet': {'hosts': len(result.fleet.hosts),
                  'description': result.fleet.describe(),
                  'vcpus': float(result.fleet.vcpus.sum()),
                  'burst_hosts': int(result.fleet.burst.sum())},
        'settings': {**dataclasses.asdict(result.settings),
                     'cold_migration': sorted(
                         kind.value
                         for kind in result.settings.cold_migration)},
    }


def to_json(result: comparison_mod.Comparison) -> dict:
    return {**describe(result),
            'policies': [dataclasses.asdict(f) for f in result.figures]}


def _save(figure: Figure, path: str) -> None:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=80)


def plot_heatmap(result: comparison_mod.Comparison, path: str) -> None:
    runs = result.runs
    figure = Figure(figsize=(8, 1.8 * len(runs) + 0.6),
                    layout='constrained')
    axes = figure.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    hours = runs[0].cpu.shape[0] * runs[0].step / 3600.0
    image = None
    for ax, run in zip(axes, runs, strict=True):
        image = ax.imshow(run.cpu.T * 100.0, aspect='auto', cmap='magma',
                          vmin=0, vmax=150, interpolation='nearest',
                          extent=(0, hours, len(run.hosts), 0))
        ax.set_ylabel('host')
        ax.set_title(run.policy, fontsize=9)
    axes[-1].set_xlabel('hours')
    figure.colorbar(image, ax=list(axes), label='CPU load %')
    _save(figure, path)


def plot_gpu_heatmap(result: comparison_mod.Comparison, path: str) -> None:
    """Each GPU's thermal headroom over time, a panel per policy; white
    lines part the hosts."""
    runs = result.runs
    figure = Figure(figsize=(8, 1.8 * len(runs) + 0.6),
                    layout='constrained')
    axes = figure.subplots(len(runs), 1, sharex=True, squeeze=False)[:, 0]
    hours = runs[0].cpu.shape[0] * runs[0].step / 3600.0
    gpus = runs[0].gpu_host
    edges = np.flatnonzero(np.diff(gpus)) + 1
    image = None
    for ax, run in zip(axes, runs, strict=True):
        image = ax.imshow(run.gpu_headroom.T, aspect='auto',
                          cmap='inferno_r', vmin=0, vmax=40,
                          interpolation='nearest',
                          extent=(0, hours, len(gpus), 0))
        for edge in edges:
            ax.axhline(edge, color='white', linewidth=0.5)
        ax.set_ylabel('GPU')
        ax.set_title(run.policy, fontsize=9)
    axes[-1].set_xlabel('hours')
    figure.colorbar(image, ax=list(axes),
                    label='GPU thermal headroom, degC')
    _save(figure, path)


def plot_sigma(result: comparison_mod.Comparison, path: str) -> None:
    figure = Figure(figsize=(8, 3.5), layout='constrained')
    ax = figure.subplots()
    for run in result.runs:
        hours = np.arange(run.cpu.shape[0]) * run.step / 3600.0
        ax.plot(hours, metrics.sigma(run), label=run.policy, linewidth=1)
    ax.set_xlabel('hours')
    ax.set_ylabel('sigma of host CPU load, %')
    ax.legend(fontsize=8)
    _save(figure, path)


def plot_cdf(result: comparison_mod.Comparison, path: str) -> None:
    figure = Figure(figsize=(6, 3.5), layout='constrained')
    ax = figure.subplots()
    for run in result.runs:
        loads = np.sort(run.cpu[run.active]) * 100.0
        if loads.size:
            ax.plot(loads, np.arange(1, loads.size + 1) / loads.size,
                    label=run.policy, linewidth=1)
    ax.axvline(result.settings.overload_percent, color='grey',
               linestyle=':', linewidth=1)
    ax.set_xlabel('CPU load of active hosts, %')
    ax.set_ylabel('fraction of host-time')
    ax.legend(fontsize=8)
    _save(figure, path)


PLOTS = {'heatmap.png': plot_heatmap, 'gpu-heatmap.png': plot_gpu_heatmap,
         'sigma.png': plot_sigma, 'cdf.png': plot_cdf}


def write(result: comparison_mod.Comparison, folder: str) -> list[str]:
    """Write ``report.json`` and the plots into ``folder``; their paths."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'report.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(to_json(result), f, indent=2)
        f.write('\n')
    written = [path]
    for name, draw in PLOTS.items():
        if draw is plot_gpu_heatmap and not result.fleet.gpus.any():
            continue
        written.append(os.path.join(folder, name))
        draw(result, written[-1])
    return written

