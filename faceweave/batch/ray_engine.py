"""The Ray batch engine (extra `faceweave[ray]`): one actor per worker, each holding its Pipelines, fed with
at most `max_in_flight` tasks at a time (backpressure through `ray.wait`).

On a cluster (`address`), inputs and outputs must be on a filesystem every node sees at the same paths: tasks carry
paths, not pixels. `gpus_per_worker` reserves GPUs per actor for neural models (``--providers cuda``). Each actor
reserves `WorkerConfig.threads` CPUs and starts with that thread budget in its environment (a Ray runtime_env).
On the local Ray it starts itself, each actor is pinned to CPUs of its own when the budgets fit, as the local engine's
workers are (see `faceweave.batch.threads`); a replacement takes the dead actor's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from faceweave.batch.manifest import remove_partial_files
from faceweave.batch.threads import pin_process, thread_environment, worker_cpus
from faceweave.batch.worker import Outcome, Task, WorkerConfig, WorkerState

log = logging.getLogger(__name__)


class RayEngine:
    """Actors that each hold a WorkerState; connects to `address` or starts a local Ray sized to `workers`.

    Example:
        >>> with RayEngine(WorkerConfig(Settings(), (("me.jpg",),)), workers=2) as engine:  # doctest: +SKIP
        ...     outcomes = list(engine.map(iter(tasks)))
    """

    def __init__(
        self,
        config: WorkerConfig,
        workers: int,
        max_in_flight: int | None = None,
        address: str | None = None,
        gpus_per_worker: float = 0.0,
    ) -> None:
        self.config = config
        self.workers = max(1, workers)
        self.max_in_flight = max_in_flight or 2 * self.workers
        self.address = address
        self.gpus_per_worker = gpus_per_worker
        self.started_ray = False
        self.actors: list[Any] = []
        self.actor_class: Any = None

    def __enter__(self) -> RayEngine:
        if not ray.is_initialized():
            if self.address is not None:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            else:
                cpus = self.workers * self.config.threads
                ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            self.started_ray = True
        self.actor_class = ray.remote(
            num_cpus=self.config.threads,
            num_gpus=self.gpus_per_worker,
            runtime_env={"env_vars": thread_environment(self.config.threads)},
        )(_Actor)
        self.actors = [self._start_actor(index) for index in range(self.workers)]
        return self

    def _start_actor(self, index: int) -> Any:
        """Actor `index`, pinned where all the actors are on this machine (a local Ray we started)."""
        local = self.started_ray and self.address is None
        cpus = worker_cpus(index, self.workers, self.config.threads) if local else None
        return self.actor_class.remote(self.config, cpus)

    def __exit__(self, *exc_info: object) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.started_ray:
            ray.shutdown()

    def pids(self) -> list[int]:
        """Process ids of the actors (for memory sampling on this machine)."""
        return [int(pid) for pid in ray.get([actor.__ray_call__.remote(_pid) for actor in self.actors])]

    def map(self, tasks: Iterator[Task]) -> Iterator[Outcome]:
        """Run tasks on idle actors, yielding outcomes as they finish; at most `max_in_flight` queued at once."""
        per_actor = max(1, self.max_in_flight // len(self.actors))
        pending: dict[Any, tuple[Task, int, Any]] = {}
        load = [0] * len(self.actors)
        exhausted = False
        while True:
            while not exhausted and len(pending) < per_actor * len(self.actors):
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                index = min(range(len(load)), key=load.__getitem__)
                actor = self.actors[index]
                pending[actor.run.remote(task)] = (task, index, actor)
                load[index] += 1
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            task, index, actor = pending.pop(ready[0])
            load[index] -= 1
            yield self._outcome(ready[0], task, index, actor)

    def _outcome(self, ref: Any, task: Task, index: int, actor: Any) -> Outcome:
        try:
            outcome: Outcome = ray.get(ref)
        except RayActorError as error:
            if self.actors[index] is actor:  # the first of its lost tasks replaces it
                log.warning("batch actor %d died; starting another", index)
                self.actors[index] = self._start_actor(index)
            remove_partial_files(Path(task.output))  # what it had half written for this task
            return Outcome(task.item, False, f"worker actor died while processing this file ({type(error).__name__})")
        except RayTaskError as error:
            return Outcome(task.item, False, " ".join(str(error).split())[:500])
        return outcome


class _Actor(WorkerState):
    """A WorkerState that first pins its process (and the threads its models start) to `cpus`, when given."""

    def __init__(self, config: WorkerConfig, cpus: tuple[int, ...] | None = None) -> None:
        if cpus is not None:
            pin_process(cpus)
        super().__init__(config)


def _pid(_: object) -> int:
    import os

    return os.getpid()
