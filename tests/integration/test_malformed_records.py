"""Thousands of malformed stream records: nothing escapes the handler, every record is accounted for."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from receipt_compaction.aws import AwsClients, sqs_client
from receipt_compaction.handlers.stream_processor import lambda_handler
from receipt_compaction.stream import QueuePublisher, process_stream_records
from tests.support.records import stream_record
from tests.support.strategies import any_entity

MIN_RECORDS = 2000

junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
bad_attribute_values = st.sampled_from(
    [
        {"S": 1},
        {"N": "abc"},
        {"N": "1e999"},
        {"BOGUS": "x"},
        {},
        {"S": "x", "N": "1"},
        {"L": "not-a-list"},
        {"M": 5},
        {"NULL": False},
        {"SS": []},
        "plain",
        None,
    ]
)
bad_keys = st.sampled_from(
    [
        "",
        "IMAGE#",
        "IMAGE#not-a-uuid",
        "LOCK#words",
        "RECEIPT#1",
        "RECEIPT#00001#LINE#00002#WORD#00003#LETTER#00001",
        "RECEIPT#00001#LINE#00002#WORD#00003#LABEL#lower",
        "RECEIPT#00001#place",
        "RECEIPT#00000",
    ]
) | st.text(max_size=40)


@st.composite
def valid_records(draw: st.DrawFn) -> dict[str, Any]:
    entity = draw(any_entity)
    event_name = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
    old = entity if event_name in ("MODIFY", "REMOVE") else None
    new = entity if event_name in ("INSERT", "MODIFY") else None
    return stream_record(event_name, old=old, new=new)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            paths += _paths(child, (*prefix, key))
    return paths


def _set(record: dict[str, Any], path: tuple[Any, ...], value: Any, *, delete: bool = False) -> None:
    target = record
    for key in path[:-1]:
        target = target[key]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value


@st.composite
def malformed_records(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["junk", "delete", "replace", "attribute", "key", "event"]))
    if kind == "junk":
        return draw(junk)
    record = copy.deepcopy(draw(valid_records()))
    change = record["dynamodb"]
    if kind == "delete":
        _set(record, draw(st.sampled_from(_paths(record))), None, delete=True)
    elif kind == "replace":
        _set(record, draw(st.sampled_from(_paths(record))), draw(junk))
    elif kind == "attribute":
        image = change.get("NewImage") or change["OldImage"]
        image[draw(st.sampled_from(sorted(image)))] = draw(bad_attribute_values)
    elif kind == "key":
        name = draw(st.sampled_from(["PK", "SK"]))
        value = draw(bad_keys)
        for holder in (change["Keys"], change.get("NewImage"), change.get("OldImage")):
            if holder is not None:
                holder[name] = {"S": value}
    else:
        record["eventName"] = draw(st.sampled_from(["insert", "DELETE", "", "MODIFY "]) | st.text(max_size=6))
    return record


batches = st.lists(malformed_records() | valid_records(), min_size=5, max_size=8)  # >= 5 x 450 examples


@pytest.mark.slow  # ~27 s: 450 batches, each through the handler and the library
@pytest.mark.usefixtures("handler_env")
def test_malformed_records_never_escape_and_are_all_accounted_for(
    aws_clients: AwsClients, queue_urls: dict[str, str]
) -> None:
    publisher = QueuePublisher(sqs_client(aws_clients.region), queue_urls)  # type: ignore[arg-type]
    seen = {"records": 0, "messages": 0, "malformed": 0}

    @settings(max_examples=450, database=None)
    @given(batch=batches)
    def run(batch: list[Any]) -> None:
        assert lambda_handler({"Records": batch}, None) == {"batchItemFailures": []}
        result = process_stream_records(batch, publisher=publisher)
        assert [outcome.index for outcome in result.outcomes] == list(range(len(batch)))
        assert {outcome.status for outcome in result.outcomes} <= {"sent", "skipped"}
        assert result.count("sent") + result.count("skipped") == len(batch)
        seen["records"] += len(batch)
        seen["messages"] += result.messages_sent
        seen["malformed"] += sum(outcome.malformed for outcome in result.outcomes)

    run()
    assert seen["records"] >= MIN_RECORDS
    assert seen["malformed"] >= MIN_RECORDS // 4  # the generator really produces broken records
    queued = 0
    for url in queue_urls.values():
        attributes = aws_clients.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        queued += int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    assert queued == 2 * seen["messages"]  # the handler and the library call each sent every message once
