"""The timeline's renderings from its data: a big drain still fits a few dozen lines and keeps what is rare
(invocations, versions, faults); a trace survives JSON; the page escapes what it shows."""

from __future__ import annotations

import json

from receipt_compaction.harness.trace import DrainTrace, TraceEvent, render_html, render_text
from receipt_compaction.harness.trace.text import MAX_LINES


def big_drain(records: int) -> DrainTrace:
    events = [TraceEvent(0.1, "stream-handler", "invocation", f"stream handler: {records} records, 0 failed")]
    for n in range(records):
        events.append(
            TraceEvent(0.1, "stream", "record", f"INSERT ReceiptWord seq {n}", {"sequence": str(n)})
        )
        events.append(TraceEvent(0.2, "stream-handler", "decision", f"seq {n}: sent -> words"))
        events.append(TraceEvent(0.2, "words", "message", f"INSERT ReceiptWord {n}"))
    events.append(TraceEvent(0.3, "compaction-handler", "fault", "fault crash_point: before_pointer"))
    events.append(TraceEvent(0.4, "s3", "version", "words V2 (parent V1)", {"version_id": "V2"}))
    summary = {
        "records": records,
        "messages": records,
        "messages_by_collection": {"lines": 0, "words": records},
        "invocations": 1,
        "batch_item_failures": 0,
        "dlq_arrivals": {"lines": 0, "words": 0},
        "on_failure_arrivals": 0,
        "published_versions": {"lines": [], "words": ["V2"]},
    }
    return DrainTrace(
        number=3, started="2026-12-02T00:00:00+00:00", events=events, duration=0.5, summary=summary
    )


def test_a_small_drain_is_shown_event_by_event() -> None:
    lines = render_text(big_drain(3)).splitlines()
    assert lines[0] == (
        "drain 3, 0.50 s; 3 records; 3 messages (lines 0, words 3); 1 invocation; 0 batch item failures; "
        "0 to DLQs, 0 to on-failure; versions lines +0, words +1"
    )
    assert len(lines) == 1 + 1 + 3 * 3 + 2
    assert lines[2] == "  +  0.100s  DynamoDB stream     INSERT ReceiptWord seq 0"


def test_a_big_drain_folds_records_decisions_and_messages_into_counts() -> None:
    lines = render_text(big_drain(200)).splitlines()
    assert len(lines) <= MAX_LINES + 1
    text = "\n".join(lines)
    assert "200 records (each in the full trace)" in text
    assert "200 decisions (each in the full trace)" in text
    assert "200 messages (each in the full trace)" in text
    assert "fault crash_point: before_pointer" in text
    assert "words V2 (parent V1)" in text
    assert "stream handler: 200 records, 0 failed" in text


def test_a_trace_round_trips_through_json() -> None:
    trace = big_drain(2)
    again = DrainTrace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert again == trace


def test_the_page_escapes_titles_and_data() -> None:
    trace = big_drain(1)
    trace.events.append(TraceEvent(0.5, "stream", "record", "<script>alert(1)</script>", {"x": "</script>"}))
    page = render_html(test="t<1>", outcome="failed", traces=[trace])
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # the embedded JSON, which no browser runs
    assert '<script type="application/json" id="trace-data">' in page
    data = page.split('id="trace-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data  # "<" is \\u003c inside the JSON: nothing in it can end or open a tag
    assert json.loads(data)["drains"][0]["events"][-1]["title"] == "<script>alert(1)</script>"
