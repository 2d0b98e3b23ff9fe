"""Shedding reads when requests queue in front of the app: `LoopLag` and `shed`.

The cheap reads are answered on the event loop (`rectune.serving.routes_read`), so when
requests arrive faster than they are answered they do not pile up inside the app, where the
in-flight limit (`rectune.serving.limits.InFlightLimit`) would see them: they wait in the
loop's ready queue and the kernel's socket buffers. The loop's lag, how late it runs a timer,
is that wait. `LoopLag` samples it and turns it into an admission probability:

* a *standing* queue starts the shedding: even the smallest lag of the last `window`
  seconds above `target` (CoDel's test, Nichols and Jacobson 2012). A burst or a pause (a
  garbage collection, a model swap, the kernel running another process) raises a few
  samples, a standing queue all of them, so a healthy service never sheds;
* while shedding, each sample above `target` multiplies the admitted fraction by `DECREASE`
  or by ``target / lag`` if smaller (a lag ten times the target cuts it tenfold at once),
  and each sample below adds `INCREASE` (AIMD, as TCP's congestion control), until it is
  back at 1. The fraction settles where the loop keeps up with what it admits plus the
  cheap refusals. For `HOLD` seconds after a cut, a lag over the target cuts again at
  once even from a fraction back at 1: an overload that goes on is no new burst.

`shed` answers a refused read 503 with ``Retry-After: 1`` from the outermost layer of the
app (`rectune.serving.app.ServiceApp`), before any routing or middleware, so a refusal costs
a small fraction of an answer and the queue drains. Only reads are shed (GET, HEAD and
``POST /v1/recommend``): writes carry durable data and the in-flight limit bounds them, so
ingestion goes on under a read overload; the probes and ``/metrics`` are never shed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque

from prometheus_client import Counter, Gauge
from starlette.types import Scope, Send

from rectune.serving.limits import EXEMPT, send_json

#: Multiplies the admitted fraction at each sample over the target while shedding.
DECREASE = 0.9
#: Added to the admitted fraction at each sample under the target while shedding.
INCREASE = 0.02
#: The admitted fraction never drops below this (some answers keep flowing).
MIN_ADMIT = 0.01
#: For this many seconds after a cut, a lag over the target cuts again at once, even from a
#: fraction back at 1 (an overload that goes on is not a new burst to be tolerated).
HOLD = 1.0


class LoopLag:
    """How late the event loop runs, and the fraction of reads to admit (module docstring).

    >>> lag = LoopLag(0.010)
    >>> for k in range(1, 41):  # 200 ms of a loop that keeps up
    ...     lag.record(k * 0.005, 0.001)
    >>> lag.admit
    1.0
    >>> for k in range(41, 81):  # then 200 ms of a standing 30 ms queue
    ...     lag.record(k * 0.005, 0.030)
    >>> lag.admit < 0.05
    True
    """

    def __init__(
        self,
        target: float,
        *,
        interval: float = 0.005,
        window: float = 0.1,
        gauge: Gauge | None = None,
        seed: int = 0,
    ) -> None:
        self.target, self.interval, self.window = target, interval, window
        self.gauge = gauge
        self.lag = 0.0
        """The last sample, in seconds."""
        self.admit = 1.0
        """The fraction of reads admitted (1: no shedding)."""
        self._samples: deque[tuple[float, float]] = deque()
        self._cut_at = -math.inf
        self._random = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop sampled (after `start`)."""

    def start(self) -> None:
        """Start sampling on the running event loop (the app's lifespan calls it)."""
        if self._task is None:
            self.loop = asyncio.get_running_loop()
            self._task = self.loop.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.admit = 1.0

    def standing(self, now: float) -> bool:
        """Whether every sample of the last `window` seconds was above the target."""
        samples = self._samples
        return samples[0][0] <= now - self.window and min(x for _, x in samples) > self.target

    def record(self, now: float, lag: float) -> None:
        """Add one sample taken at ``now`` and update `admit`."""
        self.lag = lag
        if self.gauge is not None:
            self.gauge.set(lag)
        samples = self._samples
        samples.append((now, lag))
        # Keep the newest sample taken at or before the window's start: under a heavy load
        # samples are further apart than the window, and one of them still speaks for it.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        over = lag > self.target
        if over and (self.admit < 1.0 or now - self._cut_at < HOLD or self.standing(now)):
            # at least DECREASE, more the further over: one sample of a 10x queue cuts 10x
            self.admit = max(MIN_ADMIT, self.admit * min(DECREASE, self.target / lag))
            self._cut_at = now
        elif not over and self.admit < 1.0:
            self.admit = min(1.0, self.admit + INCREASE)

    def refuse(self) -> bool:
        """Whether to refuse the read at hand (drawn with the admitted fraction)."""
        return self.admit < 1.0 and self._random.random() >= self.admit

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            now = loop.time()
            self.record(now, max(0.0, now - asked))


def is_read(scope: Scope) -> bool:
    """Requests that only compute an answer (the ones shed)."""
    return scope["method"] in ("GET", "HEAD") or scope["path"] == "/v1/recommend"


async def shed(scope: Scope, send: Send, lag: LoopLag, rejected: Counter) -> bool:
    """Answer 503 and return True if ``scope`` is a read that `LoopLag` refuses."""
    if scope["type"] != "http" or lag.admit >= 1.0 or scope["path"] in EXEMPT:
        return False
    if not is_read(scope) or not lag.refuse():
        return False
    rejected.labels("queue").inc()
    detail = f"overloaded: requests wait {lag.lag * 1000:.0f} ms to be read; retry after a second"
    await send_json(send, 503, {"detail": detail}, {"retry-after": "1"})
    return True
