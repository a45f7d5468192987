"""Dynamic micro-batching: texts of concurrent requests are gathered into one model batch.

No serving library we use does this for a plain PyTorch model (it is what TorchServe and Triton do
inside their servers), so it is a small asyncio queue here. One worker thread runs the model, one
batch at a time; requests wait at most ``max_wait_ms`` for company before their batch starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class MicroBatcher:
    def __init__(
        self,
        predict: Callable[[list[str]], np.ndarray],
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        enabled: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ):
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.enabled = enabled
        self.on_batch = on_batch
        # One model call at a time, in both modes, so that the modes differ only in batching.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ecomsft-model")
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        if self.enabled:
            self.worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish what is queued, then stop the worker."""
        if self.worker is not None:
            await self.queue.join()
            self.worker.cancel()
            try:
                await self.worker
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=True)

    async def _call_model(self, texts: list[str]) -> np.ndarray:
        if self.on_batch is not None:
            self.on_batch(len(texts))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.predict, texts)

    async def submit(self, texts: list[str]) -> np.ndarray:
        if not self.enabled:
            return await self._call_model(texts)
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            size = len(batch[0][0])
            deadline = loop.time() + self.max_wait
            while size < self.max_batch_size:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                batch.append(item)
                size += len(item[0])
            texts = [text for request, _ in batch for text in request]
            try:
                probs = await self._call_model(texts)
            except Exception as err:  # handed to each waiting request, which answers 500
                for _, future in batch:
                    if not future.done():
                        future.set_exception(err)
            else:
                start = 0
                for request, future in batch:
                    if not future.done():
                        future.set_result(probs[start:start + len(request)])
                    start += len(request)
            finally:
                for _ in batch:
                    self.queue.task_done()
