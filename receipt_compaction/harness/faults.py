"""Faults that real parts cannot produce on demand, injected through botocore's event hooks.

The client stays a real boto3 client talking to a real endpoint; a fault only changes what one call sends
or what it reports, exactly where AWS itself could have failed. A fault attaches to the events of one client
(``client``) or to those of every handler client (``receipt_compaction.aws.HANDLER_EVENTS``): say which.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Self

from botocore.awsrequest import AWSResponse
from botocore.hooks import BaseEventHooks

__all__ = ["S3PointerConflicts", "SqsBatchRewrite", "SqsEntryFaults", "events_of"]


def events_of(target: Any) -> Any:
    """The event hooks of a boto3 client, or ``target`` itself when it is already event hooks (such as
    ``receipt_compaction.aws.HANDLER_EVENTS``)."""
    if isinstance(target, BaseEventHooks):
        return target
    return target.meta.events


class SqsEntryFaults:
    """Make ``SendMessageBatch`` report chosen entries as failed, as SQS does under internal errors.

    ``calls`` maps a call number (1 = the first ``SendMessageBatch`` after entering) to the positions of the
    entries that call fails; ``where`` fails every entry it returns True for, on every call (a message that
    never gets through). A failed entry is removed
    from the request before it is sent, so it really never reaches the queue, and is listed in the
    response's ``Failed`` list with ``SenderFault`` as given. A moto server accepts every well-formed entry,
    and real SQS fails entries only under conditions nobody can cause at will: hence this hook.
    """

    def __init__(
        self,
        target: Any,
        *,
        calls: Mapping[int, set[int]] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        sender_fault: bool = False,
        code: str = "InternalError",
    ) -> None:
        self._events = events_of(target)
        self._calls = dict(calls or {})
        self._where = where or (lambda entry: False)
        self._sender_fault = sender_fault
        self._code = code
        self.call_count = 0
        self.failed_ids: list[str] = []
        self._dropped: list[dict[str, Any]] = []
        self._nothing_to_send = False

    def __enter__(self) -> Self:
        self._events.register("before-parameter-build.sqs.SendMessageBatch", self._drop_entries)
        self._events.register("before-call.sqs.SendMessageBatch", self._short_circuit_empty)
        self._events.register("after-call.sqs.SendMessageBatch", self._report_dropped)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-parameter-build.sqs.SendMessageBatch", self._drop_entries)
        self._events.unregister("before-call.sqs.SendMessageBatch", self._short_circuit_empty)
        self._events.unregister("after-call.sqs.SendMessageBatch", self._report_dropped)

    def _drop_entries(self, params: dict[str, Any], **_: Any) -> None:
        self.call_count += 1
        positions = self._calls.get(self.call_count, set())
        entries = params["Entries"]
        failing = [position in positions or self._where(entry) for position, entry in enumerate(entries)]
        self._dropped = [entry for entry, fails in zip(entries, failing, strict=True) if fails]
        params["Entries"] = [entry for entry, fails in zip(entries, failing, strict=True) if not fails]
        self.failed_ids += [entry["Id"] for entry in self._dropped]
        self._nothing_to_send = not params["Entries"]

    def _short_circuit_empty(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        # SQS rejects an empty batch outright; when every entry is failed, answer without sending.
        if not self._nothing_to_send:
            return None
        response = AWSResponse("", 200, {}, None)  # type: ignore[arg-type]
        return response, {"Successful": [], "Failed": [], "ResponseMetadata": {"HTTPStatusCode": 200}}

    def _report_dropped(self, parsed: dict[str, Any], **_: Any) -> None:
        failed = parsed.setdefault("Failed", [])
        failed += [
            {
                "Id": entry["Id"],
                "SenderFault": self._sender_fault,
                "Code": self._code,
                "Message": "injected fault",
            }
            for entry in self._dropped
        ]
        self._dropped = []


class SqsBatchRewrite:
    """Rewrite every ``SendMessageBatch`` before it is sent: ``duplicate`` sends each entry twice (what
    at-least-once delivery can do), ``reverse`` sends them in reverse order (what a standard queue can do)."""

    def __init__(self, target: Any, *, duplicate: bool = False, reverse: bool = False) -> None:
        self._events = events_of(target)
        self._duplicate = duplicate
        self._reverse = reverse

    def __enter__(self) -> Self:
        self._events.register("before-parameter-build.sqs.SendMessageBatch", self._rewrite)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-parameter-build.sqs.SendMessageBatch", self._rewrite)

    def _rewrite(self, params: dict[str, Any], **_: Any) -> None:
        entries = list(params["Entries"])
        if self._duplicate:
            entries += [{**entry, "Id": f"{entry['Id']}-again"} for entry in entries]
        if self._reverse:
            entries.reverse()
        params["Entries"] = entries


class S3PointerConflicts:
    """Make ``times`` writes of a snapshot pointer, after ``skip`` that go through, fail with ``412
    PreconditionFailed`` or ``409 ConditionalRequestConflict``, as S3 answers a writer that lost a race.
    A failed write is not sent."""

    def __init__(self, target: Any, *, status: int = 412, times: int = 1, skip: int = 0) -> None:
        self._events = events_of(target)
        self._status = status
        self._left = times
        self._skip = skip
        self.injected = 0

    def __enter__(self) -> Self:
        self._events.register("before-call.s3.PutObject", self._conflict)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._events.unregister("before-call.s3.PutObject", self._conflict)

    def _conflict(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if self._left <= 0 or not str(params.get("url_path", "")).endswith("/latest-pointer.txt"):
            return None
        if self._skip > 0:
            self._skip -= 1
            return None
        self._left -= 1
        self.injected += 1
        code = "PreconditionFailed" if self._status == 412 else "ConditionalRequestConflict"
        error = {"Code": code, "Message": "injected: another writer changed the pointer"}
        response = AWSResponse("", self._status, {}, None)  # type: ignore[arg-type]
        return response, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": self._status}}
