"""Adaptive micro-batching of single-message requests.

Concurrent POST /v1/classify requests in one worker are gathered while the previous batch is being
processed, then classified with the engine's vectorized path and stored in one transaction. Under
no load a request is processed alone, at once (no added wait); under load, each round takes
everything that queued up meanwhile (up to ``max_batch``). Per-message costs that batching
amortizes: feature extraction calls, matrix products, the database commit.

The work runs in one thread of the default executor, so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any


class MicroBatcher:
    def __init__(self, process: Callable[[Sequence[Any]], list[Any]], max_batch: int = 64):
        self.process = process
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future]] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Any) -> Any:
        """Process ``item`` in the next batch; returns its result or raises its exception."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._run())
        fut = loop.create_future()
        await self._queue.put((item, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            batch = [(i, f) for i, f in batch if not f.cancelled()]
            if not batch:
                continue
            try:
                results = await loop.run_in_executor(None, self.process, [i for i, _ in batch])
            except Exception as exc:  # the whole round failed: every caller gets the error
                for _, f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for (_, f), r in zip(batch, results, strict=True):
                if f.done():
                    continue
                if isinstance(r, BaseException):
                    f.set_exception(r)
                else:
                    f.set_result(r)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
