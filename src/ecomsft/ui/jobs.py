"""The trainings the interface starts: one at a time (a CPU machine has the cores for one), the
others queued in the order they came; each runs as a background process of the very ``ecomsft
train`` command the page shows, so it goes through the same runner as the CLI (no second code path)
and stops as the CLI stops (SIGTERM: the checkpoints are kept, ``--resume`` continues).

Everything about a training lives in files under ``<root>/.ecomsft-ui/jobs/<id>/`` (``job.json``:
the command, its output and its state; ``log.txt``: what the command printed) and in the run's own
folder (``progress.jsonl``), so that a page refresh, a second browser tab and a restarted server see
the same trainings. A job whose process a stopped server left behind is judged by its run folder:
finished, interrupted with checkpoints to resume, or failed with the command's ``error:`` line.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..files import write_text_atomic
from ..run_folder import is_finished_run

UI_FOLDER = ".ecomsft-ui"
WAITING, RUNNING, FINISHED, FAILED, STOPPED = "queued", "running", "finished", "failed", "stopped"
LOG_FILE = "log.txt"


@dataclass
class Job:
    id: str
    argv: list[str]  # the arguments of ``ecomsft``
    output: str  # the run folder it writes (absolute)
    created: float = field(default_factory=time.time)
    status: str = WAITING
    pid: int | None = None
    started: float | None = None
    ended: float | None = None
    message: str = ""  # a key of ui/text.py (msg_*), or the command's own error line

    @property
    def command(self) -> str:
        return shlex.join(["ecomsft", *self.argv])

    @property
    def partial(self) -> Path:
        return Path(self.output + ".partial")

    @property
    def resumable(self) -> bool:
        return self.status in (STOPPED, FAILED) and (self.partial / "checkpoints").is_dir()


class Jobs:
    """The job files under ``root``, the queue over them and the processes this server started."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / UI_FOLDER / "jobs"
        self._processes: dict[str, subprocess.Popen] = {}
        self._lock = threading.RLock()

    # -- reading -------------------------------------------------------------------------------
    def _file(self, job_id: str) -> Path:
        return self.folder / job_id / "job.json"

    def get(self, job_id: str) -> Job:
        """The job (``LookupError`` when there is none of that id)."""
        if not job_id.isalnum():
            raise LookupError(job_id)
        try:
            return Job(**json.loads(self._file(job_id).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            raise LookupError(job_id) from None

    def all(self) -> list[Job]:
        """Every job, oldest first."""
        if not self.folder.is_dir():
            return []
        jobs = []
        for path in self.folder.iterdir():
            try:
                jobs.append(self.get(path.name))
            except LookupError:
                continue
        return sorted(jobs, key=lambda job: job.created)

    def position(self, job: Job) -> int | None:
        """1 for the next to start, ... (None: not waiting)."""
        if job.status != WAITING:
            return None
        waiting = [j.id for j in self.all() if j.status == WAITING]
        return waiting.index(job.id) + 1 if job.id in waiting else None

    def log(self, job: Job, lines: int = 40) -> list[str]:
        try:
            text = (self.folder / job.id / LOG_FILE).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        # tqdm's carriage returns: keep what a terminal would show last on each line
        return [line.rsplit("\r", 1)[-1] for line in text.splitlines() if line.strip()][-lines:]

    # -- writing -------------------------------------------------------------------------------
    def _save(self, job: Job) -> None:
        (self.folder / job.id).mkdir(parents=True, exist_ok=True)
        write_text_atomic(self._file(job.id), json.dumps(asdict(job), ensure_ascii=False, indent=1))

    def submit(self, argv: list[str], output: str | Path) -> Job:
        """Queue ``ecomsft *argv`` writing ``output``; it starts when no other job runs."""
        with self._lock:
            job = Job(id=uuid.uuid4().hex[:12], argv=list(argv), output=str(Path(output).resolve()))
            self._save(job)
        self.tick()
        return self.get(job.id)

    def stop(self, job_id: str) -> Job:
        """A waiting job leaves the queue; a running one is sent SIGTERM (the runner keeps its
        checkpoints, as on Ctrl-C) and is judged when its process has ended."""
        with self._lock:
            job = self.get(job_id)
            if job.status == WAITING:
                job.status, job.ended, job.message = STOPPED, time.time(), "msg_dequeued"
                self._save(job)
            elif job.status == RUNNING and job.pid and self._alive(job):  # never a pid reused by another program
                try:
                    os.killpg(job.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        return self.get(job_id)

    def stop_own(self) -> None:
        """Stop the trainings this server started (it is shutting down): resumable, as on Ctrl-C."""
        for job_id, process in list(self._processes.items()):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass

    def resume(self, job_id: str) -> Job:
        """A new job continuing a stopped one from its checkpoints (``--resume``)."""
        job = self.get(job_id)
        if not job.resumable:
            raise LookupError(job_id)
        argv = [a for a in job.argv if a != "--resume"] + ["--resume"]
        return self.submit(argv, job.output)

    # -- the queue -----------------------------------------------------------------------------
    def tick(self) -> None:
        """Judge the running job if its process ended, then start the next waiting one if none runs."""
        with self._lock:
            jobs = self.all()
            for job in jobs:
                if job.status == RUNNING and not self._alive(job):
                    self._judge(job)
            if any(job.status == RUNNING for job in jobs):
                return
            waiting = [job for job in jobs if job.status == WAITING]
            if waiting:
                self._start(waiting[0])

    def _alive(self, job: Job) -> bool:
        process = self._processes.get(job.id)
        if process is not None:
            return process.poll() is None
        if not job.pid:
            return False
        try:  # a process a former server started: alive while its pid runs ecomsft
            return b"ecomsft" in Path(f"/proc/{job.pid}/cmdline").read_bytes()
        except OSError:
            return False

    def _judge(self, job: Job) -> None:
        process = self._processes.pop(job.id, None)
        code = process.returncode if process is not None else None
        job.ended = time.time()
        errors = [line for line in self.log(job, 200) if line.startswith("error:")]
        # stopped as on Ctrl-C (its "interrupted" line), killed, or ended while no server watched
        interrupted = errors[-1].startswith("error: interrupted") if errors else code in (None, -9, -15, 130, 143)
        output = Path(job.output)
        if code == 0 or (code is None and is_finished_run(output)
                         and (output / "metrics.json").stat().st_mtime >= (job.started or 0)):
            job.status, job.message = FINISHED, ""
        elif interrupted and (job.partial / "checkpoints").is_dir():
            job.status, job.message = STOPPED, "msg_resumable"
        elif interrupted:
            job.status, job.message = STOPPED, "msg_stopped_early"
        else:
            job.status = FAILED
            job.message = errors[-1] if errors else f"the training ended with exit code {code} (see its log)"
        self._save(job)

    def _start(self, job: Job) -> None:
        log = open(self.folder / job.id / LOG_FILE, "ab")
        # The command's own progress bar is the page's job: tqdm is off in the child (its config, and
        # so the command shown, unchanged).
        env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONUNBUFFERED": "1"}
        try:
            process = subprocess.Popen([sys.executable, "-m", "ecomsft", *job.argv], stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, cwd=self.root, env=env, start_new_session=True)
        except OSError as err:
            job.status, job.message, job.ended = FAILED, f"cannot start the training: {err}", time.time()
            self._save(job)
            return
        finally:
            log.close()
        self._processes[job.id] = process
        job.status, job.pid, job.started = RUNNING, process.pid, time.time()
        self._save(job)

    def watch(self, stop: threading.Event, every: float = 1.0) -> None:
        """Tick until ``stop`` is set (the server's background thread)."""
        while not stop.wait(every):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bad job file must not end the queue; the pages say what
                continue
