"""Recording a drain's timeline: what the library emits (``receipt_compaction.observe``) and what the
harness sees (each handler invocation, each record sent to the on-failure queue), as ``TraceEvent``s.

``traced_drain`` wraps ``LocalPipeline.drain``: a ``DrainRecorder`` listens for the length of the drain and
the finished ``DrainTrace`` is appended to the pipeline's ``traces``, whether the drain returned or raised.
``traced_handler`` wraps a handler so each invocation is an event with its batch, failures and error.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from receipt_compaction.entities.registry import ENTITY_CLASSES, entity_class_for_key
from receipt_compaction.harness.trace.events import DrainTrace, EventKind, Lane, TraceEvent, counted
from receipt_compaction.observe import emit, subscribed

if TYPE_CHECKING:
    from receipt_compaction.harness.event_sources import Handler

__all__ = ["DrainRecorder", "describe_key", "traced_drain", "traced_handler"]

FAULT_LANES: dict[str, Lane] = {
    "sqs_send_failure": "stream-handler",
    "sqs_batch_rewrite": "stream-handler",
    "pointer_conflict": "s3",
    "crash_point": "compaction-handler",
    "empty_pages": "stream",
    "iterator_expired": "stream",
    "stream_latency": "stream",
    "shard_split": "stream",
    "identical_put": "stream",
}


def describe_key(pk: object, sk: object) -> str:
    """A key shortly: ``IMAGE#<uuid>`` as the image's first 8 characters, then the SK."""
    text = str(pk)
    return f"{text.removeprefix('IMAGE#')[:8] if text.startswith('IMAGE#') else text} {sk}"


def short_sequence(sequence: object) -> str:
    """A SequenceNumber's last 6 digits (``…423022``): enough to tell a drain's records apart."""
    text = str(sequence)
    return text if len(text) <= 8 else f"…{text[-6:]}"


ENTITY_NAMES = {entity.ENTITY_TYPE: entity.__name__ for entity in ENTITY_CLASSES}


def _keys_of(record: object) -> tuple[str, str] | None:
    change = record.get("dynamodb") if isinstance(record, Mapping) else None
    keys = change.get("Keys") if isinstance(change, Mapping) else None
    if not isinstance(keys, Mapping):
        return None
    pk, sk = keys.get("PK"), keys.get("SK")
    if not (isinstance(pk, Mapping) and isinstance(sk, Mapping)):
        return None
    return str(pk.get("S")), str(sk.get("S"))


def _sequence_of(record: object) -> str | None:
    change = record.get("dynamodb") if isinstance(record, Mapping) else None
    sequence = change.get("SequenceNumber") if isinstance(change, Mapping) else None
    return str(sequence) if sequence is not None else None


def _entity_of(keys: tuple[str, str] | None) -> str:
    if keys is None:
        return "?"
    found = entity_class_for_key(*keys)
    return found.__name__ if found is not None else "not an entity"


def _message_target(data: Mapping[str, Any]) -> str:
    """Which receipt (and line, word, label, run) a message's ``entity_data`` names, shortly."""
    parts = [f"{str(data.get('image_id', '?'))[:8]}/{data.get('receipt_id', '?')}"]
    for name in ("line_id", "word_id", "label", "run_id"):
        if data.get(name) is not None:
            parts.append(f"{name.removesuffix('_id')} {data[name]}")
    return " ".join(parts)


class DrainRecorder:
    """Listens to ``observe`` events during one drain and turns them into ``TraceEvent``s (thread-safe)."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.started = datetime.now(UTC).isoformat()
        self._t0 = time.monotonic()
        self._lock = threading.Lock()
        self._events: list[TraceEvent] = []
        self._records_seen: set[str] = set()
        self._busy: dict[tuple[str, str], TraceEvent] = {}

    # -- observe ------------------------------------------------------------------------------------------

    def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        handler = _HANDLERS.get(kind.split(".", 1)[0])
        if handler is not None:
            handler(self, kind, fields)

    def add(
        self,
        lane: Lane,
        kind: EventKind,
        title: str,
        detail: dict[str, Any] | None = None,
        *,
        at: float | None = None,
        duration: float | None = None,
    ) -> TraceEvent:
        event = TraceEvent(
            at=round(self._now() if at is None else at, 6),
            lane=lane,
            kind=kind,
            title=title,
            detail=_json(detail or {}),
            duration=None if duration is None else round(duration, 6),
        )
        with self._lock:
            self._events.append(event)
        return event

    def _now(self) -> float:
        return time.monotonic() - self._t0

    def since_start(self, monotonic: float) -> float:
        return monotonic - self._t0

    # -- the stream stage ---------------------------------------------------------------------------------

    def _decision(self, _: str, fields: dict[str, Any]) -> None:
        record, outcome, messages = fields.get("record"), fields.get("outcome"), fields.get("messages") or ()
        sequence = _sequence_of(record) or getattr(outcome, "sequence_number", None)
        status = str(getattr(outcome, "status", "?"))
        reason = str(getattr(outcome, "reason", ""))
        collections = [str(getattr(message, "collection", "?")) for message in messages]
        said = f" -> {', '.join(collections)}" if status == "sent" else f": {reason}"
        self.add(
            "stream-handler",
            "decision",
            f"seq {short_sequence(sequence)}: {status}{said}",
            {"sequence": sequence, "status": status, "reason": reason, "collections": collections},
        )
        if status == "sent":
            for message in messages:
                self._message(message, sequence)
        if status == "rejected":
            self.add(
                "stream",
                "on_failure",
                f"seq {short_sequence(sequence)} sent to the on-failure queue: {reason}",
                {"sequence": sequence, "reason": reason},
            )

    def _record(self, record: Mapping[str, Any], at: float) -> None:
        """A stream record, the first time a handler is given it (a retry hands it over again)."""
        sequence = _sequence_of(record)
        seen = f"{sequence}:{record.get('eventID', '')}"
        with self._lock:
            if seen in self._records_seen:
                return
            self._records_seen.add(seen)
        keys = _keys_of(record)
        event_name = str(record.get("eventName", "?"))
        entity = _entity_of(keys)
        where = describe_key(*keys) if keys else "(no keys)"
        self.add(
            "stream",
            "record",
            f"{event_name} {entity} {where} (seq {short_sequence(sequence)})",
            {
                "sequence": sequence,
                "event_id": record.get("eventID"),
                "event_name": event_name,
                "entity": entity,
                "key": where,
            },
            at=at,
        )

    def _message(self, message: object, sequence: str | None) -> None:
        body = getattr(message, "message", None)
        collection = str(getattr(message, "collection", "?"))
        entity_type = str(getattr(body, "entity_type", "?"))
        entity = ENTITY_NAMES.get(entity_type, entity_type)
        event_name = str(getattr(body, "event_name", "?"))
        data = getattr(body, "entity_data", {}) or {}
        changes = sorted(getattr(body, "changes", {}) or {})
        lane: Lane = "lines" if collection == "lines" else "words"
        self.add(
            lane,
            "message",
            f"{event_name} {entity} {_message_target(data)} (seq {short_sequence(sequence)})",
            {
                "collection": collection,
                "entity": entity,
                "event_name": event_name,
                "entity_data": data,
                "changes": changes,
                "sequence": sequence,
            },
        )

    # -- leases, versions, faults -------------------------------------------------------------------------

    def _lease(self, kind: str, fields: dict[str, Any]) -> None:
        what = kind.split(".", 1)[1]
        collection = str(fields.get("collection", "?"))
        if what == "busy":
            self._lease_busy(collection, str(fields.get("owner", "")))
            return
        token = fields.get("token")
        reason = f": {fields['reason']}" if fields.get("reason") else ""
        self.add(
            "compaction-handler",
            "lease",
            f"lease {collection} {what} (token {token}){reason}",
            {
                "collection": collection,
                "what": what,
                **{k: v for k, v in fields.items() if k != "collection"},
            },
        )

    def _lease_busy(self, collection: str, owner: str) -> None:
        with self._lock:
            event = self._busy.get((collection, owner))
            if event is not None:
                event.detail["attempts"] += 1
                event.title = f"lease {collection} busy ({counted(event.detail['attempts'], 'attempt')})"
                return
        event = self.add(
            "compaction-handler",
            "lease",
            f"lease {collection} busy (1 attempt)",
            {"collection": collection, "what": "busy", "owner": owner, "attempts": 1},
        )
        with self._lock:
            self._busy[(collection, owner)] = event

    def _published(self, _: str, fields: dict[str, Any]) -> None:
        manifest = fields["manifest"]
        uploaded = fields.get("uploaded") or ()
        files = getattr(manifest, "files", ())
        detail = {
            "collection": manifest.collection,
            "version_id": manifest.version_id,
            "parent_version": manifest.parent_version,
            "count": manifest.count,
            "fencing_token": manifest.fencing_token,
            "files": len(files),
            "uploaded_files": [getattr(entry, "path", str(entry)) for entry in uploaded],
            "uploaded_bytes": fields.get("uploaded_bytes", 0),
        }
        self.add(
            "s3",
            "version",
            f"{manifest.collection} {manifest.version_id} (parent {manifest.parent_version or 'none'}): "
            f"{counted(manifest.count, 'record')}, "
            f"{len(uploaded)} of {counted(len(files), 'file')} uploaded, "
            f"{detail['uploaded_bytes']} bytes",
            detail,
        )

    def _fault(self, _: str, fields: dict[str, Any]) -> None:
        name = str(fields.get("fault", "?"))
        detail = str(fields.get("detail") or fields.get("point") or "")
        self.add(
            FAULT_LANES.get(name, "compaction-handler"), "fault", f"fault {name}: {detail}", dict(fields)
        )

    def _on_failure(self, _: str, fields: dict[str, Any]) -> None:
        records = fields.get("records") or ()
        sequences = [_sequence_of(record) for record in records]
        self.add(
            "stream",
            "on_failure",
            f"seq {', '.join(map(short_sequence, sequences))} sent to the on-failure queue: "
            f"{fields.get('reason')}",
            {"sequences": sequences, "reason": fields.get("reason")},
        )

    # -- invocations --------------------------------------------------------------------------------------

    def _invocation(self, _: str, fields: dict[str, Any]) -> None:
        source = str(fields["source"])
        records = _event_records(fields.get("event"))
        failed = [str(item.get("itemIdentifier")) for item in fields.get("failures") or ()]
        error = fields.get("error")
        at = self.since_start(float(fields["started"]))
        outcome = f"error {error}" if error else f"{len(failed)} failed"
        if source == "stream":
            sequences = [_sequence_of(record) for record in records]
            self.add(
                "stream-handler",
                "invocation",
                f"stream handler: {counted(len(records), 'record')}, {outcome}",
                {"batch": len(records), "sequences": sequences, "failures": failed, "error": error},
                at=at,
                duration=fields.get("duration"),
            )
            for record in records:
                self._record(record, at)
            return
        messages = [_delivered(record) for record in records]
        again = sum(1 for message in messages if message["receive_count"] != "1")
        lane: Lane = "lines" if source == "lines" else "words"
        self.add(
            lane,
            "delivery",
            f"{len(messages)} delivered" + (f" ({again} again)" if again else ""),
            {"messages": [message["message_id"] for message in messages]},
            at=at,
        )
        self.add(
            "compaction-handler",
            "invocation",
            f"compaction handler ({source}): {counted(len(records), 'message')}, {outcome}",
            {
                "collection": source,
                "batch": len(records),
                "messages": messages,
                "failures": failed,
                "error": error,
            },
            at=at,
            duration=fields.get("duration"),
        )

    # -- the end ------------------------------------------------------------------------------------------

    def finish(self, *, report: object = None, error: BaseException | None = None) -> DrainTrace:
        summary = _summary(report) if report is not None else {}
        for collection, arrived in (summary.get("dlq_arrivals") or {}).items():
            if arrived:
                lane: Lane = "lines" if collection == "lines" else "words"
                self.add(
                    lane,
                    "dlq",
                    f"{counted(arrived, 'message')} reached the {collection} DLQ",
                    {"count": arrived},
                )
        with self._lock:
            events = sorted(self._events, key=lambda event: event.at)
        return DrainTrace(
            number=self.number,
            started=self.started,
            events=events,
            duration=round(self._now(), 6),
            error=None if error is None else f"{type(error).__name__}: {error}"[:2000],
            summary=summary,
        )


_HANDLERS: dict[str, Callable[[DrainRecorder, str, dict[str, Any]], None]] = {
    "stream": DrainRecorder._decision,
    "lease": DrainRecorder._lease,
    "snapshot": DrainRecorder._published,
    "fault": DrainRecorder._fault,
    "on_failure": DrainRecorder._on_failure,
    "invocation": DrainRecorder._invocation,
}


def _event_records(event: object) -> list[Mapping[str, Any]]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return [record for record in records or () if isinstance(record, Mapping)]


def _delivered(record: Mapping[str, Any]) -> dict[str, Any]:
    attributes = record.get("messageAttributes") or {}

    def attribute(name: str) -> str | None:
        value = attributes.get(name)
        return value.get("stringValue") if isinstance(value, Mapping) else None

    return {
        "message_id": record.get("messageId"),
        "receive_count": (record.get("attributes") or {}).get("ApproximateReceiveCount"),
        "entity": attribute("entity_type"),
        "event_name": attribute("event_name"),
    }


def _summary(report: object) -> dict[str, Any]:
    if not is_dataclass(report) or isinstance(report, type):
        return {}
    data = asdict(report)
    data["invocations"] = len(data.get("invocations") or ())
    data["batch_item_failures"] = len(data.get("batch_item_failures") or ())
    summary: dict[str, Any] = _json(data)
    return summary


def _json(value: Any) -> Any:
    """``value`` with only JSON types: mappings, lists, strings, numbers, booleans, None."""
    if isinstance(value, Mapping):
        return {str(key): _json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# -- wrapping the pipeline ------------------------------------------------------------------------------


class HasTraces(Protocol):
    traces: list[DrainTrace]


S = TypeVar("S", bound=HasTraces)
P = ParamSpec("P")
R = TypeVar("R")


def traced_drain(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Record the timeline of every call into ``self.traces`` (also when it raises)."""

    @functools.wraps(method)
    def drain(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        recorder = DrainRecorder(len(self.traces) + 1)
        with subscribed(recorder):
            try:
                report = method(self, *args, **kwargs)
            except BaseException as error:
                self.traces.append(recorder.finish(error=error))
                raise
        self.traces.append(recorder.finish(report=report))
        return report

    return drain


def traced_handler(source: str, handler: Handler) -> Handler:
    """``handler`` whose every invocation is emitted (``source``: ``stream`` or a collection's name) with
    its event, its ``batchItemFailures`` or error, when it started and how long it took."""

    def invoke(event: dict[str, Any], context: object) -> Mapping[str, Any]:
        started = time.monotonic()
        try:
            response = handler(event, context)
        except BaseException as error:
            took = time.monotonic() - started
            emit(
                "invocation",
                source=source,
                event=event,
                error=f"{type(error).__name__}: {error}",
                started=started,
                duration=took,
            )
            raise
        failures: Sequence[Any] = response.get("batchItemFailures") or ()
        emit(
            "invocation",
            source=source,
            event=event,
            failures=failures,
            started=started,
            duration=time.monotonic() - started,
        )
        return response

    return invoke
