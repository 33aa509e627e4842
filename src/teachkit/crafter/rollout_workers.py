"""Worker processes for CPU-bound teachers (scripted, random): one episode per task, each process with its own
teacher, for `teachkit crafter rollout --workers N`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import sys
from collections.abc import Callable, Iterator

from teachkit.crafter.play import PlayConfig, play_episodes
from teachkit.crafter.teachers import RandomTeacher, ScriptedTeacher, Teacher
from teachkit.records import Episode

_worker_teacher: Teacher | None = None
_worker_config: PlayConfig | None = None


def _init_worker(spec: str, config: PlayConfig) -> None:
    global _worker_teacher, _worker_config
    _worker_teacher = ScriptedTeacher() if spec == "scripted" else RandomTeacher()
    _worker_config = config


def _play_in_worker(seed: int) -> str:
    async def one() -> Episode:
        assert _worker_teacher is not None and _worker_config is not None
        async for episode in play_episodes([seed], _worker_teacher, _worker_config):
            return episode
        raise RuntimeError(f"seed {seed}: the episode did not finish")

    return asyncio.run(one()).model_dump_json()


@contextlib.contextmanager
def worker_pool(
    spec: str, config: PlayConfig, workers: int
) -> Iterator[concurrent.futures.ProcessPoolExecutor]:
    """Started worker processes, each with its own teacher.

    On Linux they are forked, so they start in milliseconds with everything already imported (as PyTorch's data
    loaders do); elsewhere they are spawned (about 2 s each to import teachkit, crafter and numba).
    """
    method = "fork" if sys.platform == "linux" else "spawn"
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(spec, config),
    )
    try:
        pool.submit(int).result()  # start the processes now
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def play_in_workers(
    pool: concurrent.futures.ProcessPoolExecutor, seeds: list[int], record: Callable[[Episode], None]
) -> None:
    """One episode per task; episodes are recorded here, in the order they finish."""
    futures = [pool.submit(_play_in_worker, seed) for seed in seeds]
    for future in concurrent.futures.as_completed(futures):
        record(Episode.model_validate_json(future.result()))
