"""Group commit for ballots: what arrives for a vote while its transaction is in flight goes into the next one.

One chain per vote means appends to a vote are serial (its row is locked while an entry is added);
committing them one by one caps a busy vote at one commit per ballot. The appender keeps a queue per
vote and a single drainer that records everything queued in one transaction (`services.cast_ballots`),
so a burst of ballots costs a handful of commits. A lone ballot goes through at once, alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from voting import services
from voting.errors import ConflictError, DuplicateSubmissionError, VotingError
from voting.ports import UnitOfWork
from voting.services import BallotReceipt, BallotRequest
from voting.votes import Vote

__all__ = ["LedgerAppender"]

log = logging.getLogger(__name__)

Pending = tuple[BallotRequest, "asyncio.Future[BallotReceipt | VotingError]"]


class LedgerAppender:
    def __init__(self, uow: Callable[[], UnitOfWork], *, max_batch: int = 200) -> None:
        self._uow = uow
        self._max_batch = max_batch
        self._queues: dict[int, list[Pending]] = {}
        self._drainers: dict[int, asyncio.Task[None]] = {}
        # Each vote as last seen (status, deadline, ledger head): appends skip re-reading it, and the
        # database's append trigger refuses them if it went stale.
        self._votes: dict[int, Vote] = {}

    async def cast(self, vote_id: int, request: BallotRequest) -> BallotReceipt:
        """Record one ballot; returns its receipt or raises the VotingError that refused it."""
        future: asyncio.Future[BallotReceipt | VotingError] = asyncio.get_running_loop().create_future()
        self._queues.setdefault(vote_id, []).append((request, future))
        if vote_id not in self._drainers:
            self._drainers[vote_id] = asyncio.create_task(self._drain(vote_id))
        result = await future
        if isinstance(result, VotingError):
            raise result
        return result

    async def _drain(self, vote_id: int) -> None:
        try:
            while queue := self._queues.get(vote_id):
                batch = queue[: self._max_batch]
                del queue[: self._max_batch]
                await self._record(vote_id, batch)
        finally:
            # No await between the emptiness check above and here: nothing can be queued unseen.
            del self._drainers[vote_id]
            self._queues.pop(vote_id, None)

    async def _record(self, vote_id: int, batch: list[Pending]) -> None:
        known = self._votes.get(vote_id)
        requests = [request for request, _f in batch]
        try:
            outcome = await services.cast_ballots(self._uow(), vote_id, requests, known=known)
        except (ConflictError, DuplicateSubmissionError) as exc:
            self._votes.pop(vote_id, None)
            if known is not None:
                # What we knew went stale (another process appended, the vote closed or was extended),
                # or a key repeated: the database refused; read the vote afresh and check every request.
                await self._record(vote_id, batch)
                return
            if len(batch) > 1:
                for pending in batch:  # one clash must not sink the others
                    await self._record(vote_id, [pending])
                return
            results: list[BallotReceipt | VotingError] = [exc]
        except Exception as exc:
            self._votes.pop(vote_id, None)
            log.exception("recording %d ballot(s) for vote %d failed", len(batch), vote_id)
            for _request, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        else:
            self._votes[vote_id] = outcome.vote
            results = outcome.results
        for (_request, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
