"""Building blocks of the end-to-end demo (``tools/demo.py``) and the claims check.

* :class:`StepRunner` runs the project's tools as subprocesses, one log file per step,
  prints progress and timing, and skips a step whose outputs exist (a re-run resumes).
* Report builders turn the tools' result files into Markdown tables and figures:
  :func:`f1_table` (generator x mask type, both F1 conventions, one column pair per
  model), :func:`flat_table`, :func:`qualitative_grid` (input | ground truth | maps),
  :func:`spectra_figure` (mean amplitude spectra of a modality per generator).
"""
import glob
import json
import math
import os
import os.path as osp
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from dp_plugin.apis.image_io import atomic_write, read_image, read_mask
from dp_plugin.utils.forgery_figure import forgery_grid


class StepFailed(RuntimeError):
    """A demo step exited with an error; the message names the step and its log."""


@dataclass
class Step:
    """One command of a pipeline.

    Attributes:
        name: Short name (also the log file name).
        cmd: Arguments after the Python interpreter (``['tools/x.py', ...]``).
        outputs: Files or glob patterns that all exist once the step is done.
        needs: Files that must exist to run the step (e.g. the tool script itself).
        optional: A failure is reported but does not stop the pipeline.
        fresh: Files or folders removed before the step is re-run by ``force`` (outputs
            that a tool would otherwise resume from or refuse to overwrite).
    """

    name: str
    cmd: List[str]
    outputs: List[str] = field(default_factory=list)
    needs: List[str] = field(default_factory=list)
    optional: bool = False
    fresh: List[str] = field(default_factory=list)


@dataclass
class Action:
    """An in-process step: ``fn()`` is called unless all ``outputs`` exist."""

    name: str
    fn: Callable[[], None]
    outputs: List[str] = field(default_factory=list)


def _exists(pattern: str) -> bool:
    return bool(glob.glob(pattern)) if any(c in pattern for c in '*?[') else osp.exists(pattern)


def _cpu_seconds(usage) -> float:
    return usage.ru_utime + usage.ru_stime


def _last_line(path: str) -> str:
    """The last non-empty line of a log (for heartbeats), shortened."""
    try:
        with open(path, 'rb') as fh:
            fh.seek(max(0, osp.getsize(path) - 4096))
            lines = [ln for ln in fh.read().decode(errors='replace').splitlines() if ln.strip()]
    except OSError:
        return ''
    return lines[-1].strip()[:140] if lines else ''


@dataclass
class StepResult:
    """What happened to a step: ``status`` (done / skipped / failed / unavailable),
    ``wall`` seconds and ``cpu`` seconds (user + system of the step's process tree)."""

    status: str
    wall: float = 0.0
    cpu: float = 0.0

    def __getitem__(self, index: int):  # (status, wall, cpu) like a tuple
        return (self.status, self.wall, self.cpu)[index]


class StepRunner:
    """Run :class:`Step` objects (subprocesses, possibly several at once) and
    :class:`Action` objects (in-process) with progress output.

    Every step's wall time and CPU time (user + system of its whole process tree, from
    ``wait4``; for an :class:`Action`, this process's and its children's) are recorded
    in :attr:`results`: on a busy machine the CPU time is what the step costs.

    Args:
        log_dir: Folder of the per-step logs.
        total: Number of steps (for ``[k/N]``).
        force: Re-run steps whose outputs exist.
        env: Extra environment variables of the subprocesses.
        stream: Where progress lines go.
        heartbeat: Seconds between "still running" lines of a long step (0: none).
    """

    def __init__(self, log_dir: str, total: int, force: bool = False,
                 env: Optional[Mapping[str, str]] = None, stream=sys.stdout,
                 heartbeat: float = 60.0) -> None:
        os.makedirs(log_dir, exist_ok=True)
        self.log_dir, self.total, self.force = log_dir, total, force
        self.env = dict(os.environ, **(env or {}))
        self.stream = stream
        self.heartbeat = heartbeat
        self.index = 0
        self.results: Dict[str, StepResult] = {}
        self.start = time.perf_counter()
        #: wall and CPU seconds of every step when it last ran, kept across runs, so that
        #: a resumed run still reports what each skipped step cost
        self.history_path = osp.join(log_dir, 'step_times.json')
        self.history: Dict[str, dict] = {}
        if osp.isfile(self.history_path):
            try:
                with open(self.history_path) as fh:
                    self.history = json.load(fh)
            except (OSError, ValueError):
                self.history = {}

    def say(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f'[{elapsed // 60:02.0f}:{elapsed % 60:02.0f}] {message}', file=self.stream,
              flush=True)

    def _head(self, name: str) -> str:
        self.index += 1
        return f'[{self.index}/{self.total}] {name}'

    def _finished(self, head: str, name: str, outputs: Sequence[str]) -> bool:
        if outputs and not self.force and all(_exists(p) for p in outputs):
            self.say(f'{head}: outputs exist, skipped')
            earlier = self.history.get(name, {})
            self.results[name] = StepResult('skipped', earlier.get('wall', 0.0),
                                            earlier.get('cpu', 0.0))
            return True
        return False

    def call(self, action: Action) -> str:
        """Run an :class:`Action`; returns ``'done'`` or ``'skipped'``.

        Raises:
            StepFailed: ``fn`` raised.
        """
        head = self._head(action.name)
        if self._finished(head, action.name, action.outputs):
            return 'skipped'
        self.say(head)
        tic = time.perf_counter()
        cpu0 = (_cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
                + _cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)))

        def spent() -> Tuple[float, float]:
            return time.perf_counter() - tic, (
                _cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
                + _cpu_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)) - cpu0)

        try:
            action.fn()
        except Exception as exc:
            self.results[action.name] = StepResult('failed', *spent())
            raise StepFailed(f'{head} failed: {type(exc).__name__}: {exc}') from exc
        seconds, cpu = spent()
        self._record(action.name, StepResult('done', seconds, cpu))
        self.say(f'{head}: done in {seconds:.0f}s ({cpu:.0f}s CPU)')
        return 'done'

    def run(self, step: Step) -> str:
        """Run ``step``; returns ``'done'``, ``'skipped'``, ``'failed'`` or ``'unavailable'``.

        Raises:
            StepFailed: A non-optional step failed or cannot run.
        """
        return self.run_parallel([step], jobs=1)[step.name]

    def run_parallel(self, steps: Sequence[Step], jobs: int = 2) -> Dict[str, str]:
        """Run independent ``steps`` with at most ``jobs`` processes at once.

        Returns ``{name: status}``. A failed non-optional step raises :class:`StepFailed`
        once the steps already started have finished (their results are kept).
        """
        statuses: Dict[str, str] = {}
        errors: List[str] = []
        pending = []
        for step in steps:
            head = self._head(step.name)
            if self._finished(head, step.name, step.outputs):
                statuses[step.name] = 'skipped'
                continue
            missing = [p for p in step.needs if not _exists(p)]
            if missing:
                message = f'{head}: cannot run, missing {", ".join(missing)}'
                self.results[step.name] = StepResult('unavailable')
                statuses[step.name] = 'unavailable'
                if step.optional:
                    self.say(message + ' (optional, continuing)')
                else:
                    errors.append(message)
                continue
            pending.append((head, step))
        if errors:  # do not start anything when a required input is missing
            raise StepFailed('\n'.join(errors))
        running = {}  # pid -> (head, step, log path, file, start)
        last_beat = time.perf_counter()
        while pending or running:
            while pending and len(running) < max(1, jobs):
                head, step = pending.pop(0)
                if self.force:
                    for path in step.fresh:
                        if osp.isdir(path):
                            shutil.rmtree(path)
                        elif osp.lexists(path):
                            os.remove(path)
                log = osp.join(self.log_dir, f'{step.name}.log')
                self.say(f'{head}: {" ".join(step.cmd)}  (log: {log})')
                fh = open(log, 'w')
                proc = subprocess.Popen([sys.executable, *step.cmd], stdout=fh,
                                        stderr=subprocess.STDOUT, env=self.env)
                running[proc.pid] = (head, step, log, fh, time.perf_counter(), proc)
            pid = 0
            for candidate in list(running):
                pid, wait_status, usage = os.wait4(candidate, os.WNOHANG)
                if pid:
                    break
            if not pid:
                now = time.perf_counter()
                if self.heartbeat and now - last_beat >= self.heartbeat:
                    last_beat = now
                    for head, step, log, _, tic, _ in running.values():
                        self.say(f'{head}: running for {now - tic:.0f}s ... '
                                 f'{_last_line(log)}')
                time.sleep(0.2)
                continue
            head, step, log, fh, tic, proc = running.pop(pid)
            fh.close()
            proc.returncode = os.waitstatus_to_exitcode(wait_status)
            status, message = self._conclude(head, step, log, proc.returncode,
                                             time.perf_counter() - tic, _cpu_seconds(usage))
            statuses[step.name] = status
            if message:
                errors.append(message)
        if errors:
            raise StepFailed('\n'.join(errors))
        return statuses

    def _conclude(self, head: str, step: Step, log: str, code: int, seconds: float,
                  cpu: float) -> Tuple[str, Optional[str]]:
        lost = [p for p in step.outputs if not _exists(p)]
        if code != 0 or lost:
            with open(log, errors='replace') as fh:
                tail = ''.join(fh.readlines()[-15:])
            why = f'exit status {code}' if code else f'missing outputs {lost}'
            message = f'{head} failed ({why}) after {seconds:.0f}s; last lines of {log}:\n{tail}'
            self.results[step.name] = StepResult('failed', seconds, cpu)
            if step.optional:
                self.say(message + '(optional, continuing)')
                return 'failed', None
            self.say(message)
            return 'failed', message
        self._record(step.name, StepResult('done', seconds, cpu))
        self.say(f'{head}: done in {seconds:.0f}s ({cpu:.0f}s CPU)')
        return 'done', None

    def _record(self, name: str, result: StepResult) -> None:
        self.results[name] = result
        self.history[name] = dict(wall=round(result.wall, 2), cpu=round(result.cpu, 2))
        with atomic_write(self.history_path, 'w') as fh:
            json.dump(self.history, fh, indent=1)

    def cpu_total(self) -> float:
        """CPU seconds of the steps run (not skipped) in this run so far."""
        return sum(r.cpu for r in self.results.values() if r.status != 'skipped')


# ------------------------------------------------------------------ tables
def _fmt(value: Optional[float], scale: float = 100.0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '–'
    return f'{scale * value:.1f}'


def _mean(values: Iterable[Optional[float]]) -> Optional[float]:
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def f1_table(per_image: Mapping[str, Sequence[dict]],
             keys: Sequence[Tuple[str, str]] = (('f1', 'F1@0.5'), ('f1_best', 'F1-best'))
             ) -> str:
    """Markdown table of per-image mean F1 (in %) by generator x mask type, per model.

    Args:
        per_image: ``{model name: rows}`` with rows as written by ``tools/test.py``
            (``generator``, ``mask_type``, ``label`` and the metric keys).
        keys: ``(row key, column title)`` of the F1 conventions to show.
    """
    groups = defaultdict(lambda: defaultdict(list))
    for model, rows in per_image.items():
        for row in rows:
            if row.get('label', 1) != 1:
                continue
            for key in ((row.get('generator'), row.get('mask_type')),
                        ('all', row.get('mask_type')), ('all', 'all')):
                groups[key][model].append(row)
    order = sorted(k for k in groups if k[0] != 'all') + sorted(
        (k for k in groups if k[0] == 'all' and k[1] != 'all')) + [('all', 'all')]
    models = list(per_image)
    header = ['generator', 'mask', 'n'] + [f'{m} {title}' for m in models for _, title in keys]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for key in order:
        if key not in groups:
            continue
        n = max(len(v) for v in groups[key].values())
        cells = [_fmt(_mean(r.get(k) for r in groups[key].get(m, []))) for m in models
                 for k, _ in keys]
        lines.append('| ' + ' | '.join([str(key[0]), str(key[1]), str(n)] + cells) + ' |')
    return '\n'.join(lines)


def flat_table(records: Mapping[str, Mapping], columns: Optional[Sequence[str]] = None,
               scale: float = 100.0) -> str:
    """Markdown table of ``{row name: {column: number}}`` (numbers scaled, e.g. to %)."""
    if columns is None:
        columns = []
        for record in records.values():
            columns += [k for k, v in record.items()
                        if isinstance(v, (int, float)) and k not in columns]
    lines = ['| | ' + ' | '.join(columns) + ' |', '|---|' + '---|' * len(columns)]
    for name, record in records.items():
        cells = [_fmt(record.get(c), scale) if isinstance(record.get(c), (int, float, type(None)))
                 else str(record[c]) for c in columns]
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def step_table(results: Mapping[str, 'StepResult']) -> str:
    """Markdown table of :attr:`StepRunner.results`: status, wall and CPU seconds (for a
    skipped step, those of the run that made its outputs), and a total row."""
    lines = ['| step | status | wall s | CPU s |', '|---|---|---|---|']
    for name, r in results.items():
        status = 'skipped (times: earlier run)' if r.status == 'skipped' and r.cpu else r.status
        lines.append(f'| {name} | {status} | {r.wall:.0f} | {r.cpu:.0f} |')
    lines.append(f'| total | | {sum(r.wall for r in results.values()):.0f} (summed) | '
                 f'{sum(r.cpu for r in results.values()):.0f} |')
    return '\n'.join(lines)


# ------------------------------------------------------------------ figures
def qualitative_grid(rows: Sequence[dict], models: Sequence[str], path: str) -> None:
    """Figure-4-style grid: one row per image, ``input | ground truth | model maps``,
    drawn by :func:`dp_plugin.utils.forgery_figure.forgery_grid` (``RdBu_r`` on [0, 1],
    one colour bar).

    Args:
        rows: ``{'title', 'image', 'mask' (or None), 'maps': {model: .npz path}}``.
        models: Column order of the maps.
        path: Output PNG.
    """
    panels = []
    for row in rows:
        rgb, _ = read_image(row['image'], min_size=0)
        maps = {}
        for model in models:
            npz = row['maps'].get(model)
            if npz and osp.isfile(npz):
                with np.load(npz) as data:
                    maps[model] = data['map']
        gt = read_mask(row['mask'], rgb.shape[:2]) if row.get('mask') else None
        panels.append(dict(title=row.get('title', ''), image=rgb, gt=gt, maps=maps))
    with atomic_write(path) as fh:
        fh.write(forgery_grid(panels, models))


def latest_checkpoint(work_dir: str, pattern: str = 'epoch_*.pth') -> str:
    """Newest file matching ``pattern`` in ``work_dir`` (the pattern itself if none)."""
    found = sorted(glob.glob(osp.join(work_dir, pattern)), key=osp.getmtime)
    return found[-1] if found else osp.join(work_dir, pattern)


def load_json(path: str):
    """A JSON file's content, or ``None`` when it does not exist."""
    if not osp.isfile(path):
        return None
    with open(path) as fh:
        return json.load(fh)
