"""Dynamic micro-batching: texts of concurrent requests are gathered into one model batch.

No serving library we use does this for a plain PyTorch model (it is what TorchServe and Triton do
inside their servers), so it is a small asyncio queue here. One worker task feeds one model thread,
one batch at a time; requests wait at most ``max_wait_ms`` for company before their batch starts.

A batch never holds more than ``max_batch_size`` texts: a larger request is split into parts of
that size (answered together, in order). The queue is bounded: past ``max_queue`` waiting texts,
``submit`` raises ``Overloaded`` at once (the server answers 503 with Retry-After) instead of
growing without bound. A worker that dies is noticed (``failure``), logged, and refuses new work.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger("ecomsft")


class Overloaded(Exception):
    """The queue is full; try again shortly."""


class WorkerDied(Exception):
    """The batching worker stopped; the process must be restarted."""


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[list], np.ndarray],
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
        on_batch: Callable[[int], None] | None = None,
        max_queue: int = 1024,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.enabled = enabled
        self.on_batch = on_batch
        self.max_queue = max_queue
        # One model call at a time, in both modes, so that the modes differ only in batching.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecomsft-model")
        self.items: deque = deque()  # (texts, future), each at most max_batch_size texts
        self.waiting = 0  # texts queued or being scored
        self.arrived: asyncio.Event | None = None
        self.worker: asyncio.Task | None = None
        self.failure: str | None = None

    @property
    def healthy(self) -> bool:
        return self.failure is None

    async def start(self) -> None:
        self.arrived = asyncio.Event()
        if self.enabled:
            self.worker = asyncio.create_task(self._run())
            self.worker.add_done_callback(self._worker_ended)

    def _worker_ended(self, task: asyncio.Task) -> None:
        if task.cancelled():
            if self.failure is None:
                self.failure = "stopped"
            return
        error = task.exception()
        self.failure = f"{type(error).__name__}: {error}" if error else "ended"
        log.error("the batching worker died (%s); /ready now answers 503 and requests 503 until a restart", self.failure)
        for _, future in self.items:
            if not future.done():
                future.set_exception(WorkerDied(self.failure))
        self.items.clear()

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker; the event loop is never blocked."""
        while self.items or self.waiting:
            if self.worker is not None and self.worker.done():
                break
            await asyncio.sleep(0.01)
        if self.worker is not None and not self.worker.done():
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
        await asyncio.get_running_loop().run_in_executor(None, self.executor.shutdown)

    async def _call_model(self, texts: list) -> np.ndarray:
        if self.on_batch is not None:
            self.on_batch(len(texts))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.predict, texts)

    async def submit(self, texts: list) -> np.ndarray:
        if self.failure is not None:
            raise WorkerDied(self.failure)
        if self.waiting + len(texts) > self.max_queue and self.waiting:
            raise Overloaded(f"{self.waiting} texts are waiting (max_queue {self.max_queue})")
        parts = [texts[i:i + self.max_batch_size] for i in range(0, len(texts), self.max_batch_size)]
        self.waiting += len(texts)
        try:
            if not self.enabled:
                return np.concatenate([await self._call_model(part) for part in parts])
            loop = asyncio.get_running_loop()
            futures = [loop.create_future() for _ in parts]
            self.items.extend(zip(parts, futures))
            self.arrived.set()
            return np.concatenate(await asyncio.gather(*futures))
        finally:
            self.waiting -= len(texts)

    async def _next_item(self, timeout: float | None):
        while not self.items:
            self.arrived.clear()
            if timeout is None:
                await self.arrived.wait()
            else:
                await asyncio.wait_for(self.arrived.wait(), timeout)
        return self.items.popleft()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._next_item(None)]
            size = len(batch[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                if self.items and size + len(self.items[0][0]) > self.max_batch_size:
                    break  # the next part would overfill the batch: it opens the next one
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await self._next_item(remaining)
                except asyncio.TimeoutError:
                    break
                if size + len(item[0]) > self.max_batch_size:
                    self.items.appendleft(item)
                    break
                batch.append(item)
                size += len(item[0])
            texts = [text for part, _ in batch for text in part]
            try:
                probs = await self._call_model(texts)
            except Exception as err:  # handed to each waiting request, which answers 500
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
            else:
                start = 0
                for part, future in batch:
                    if not future.done():
                        future.set_result(probs[start:start + len(part)])
                    start += len(part)
