"""The plugin's side of drain timelines: a failing scenario shows its last drain in the report, kept
artifacts hold every drain's timeline, ``--receipt-compaction-trace`` writes a page and its JSON per test."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.paths import SCENARIOS

pytest_plugins = ["pytester"]

WRONG = """\
name: wrong_label
seed:
  - {receipt: shop, lines: [[TOTAL, "4.20"]]}
stages:
  - put: {entity: label, receipt: shop, line_id: 1, word_id: 2, label: GRAND_TOTAL, validation_status: VALID}
  - drain:
  - expect_snapshot: {collection: words, ids: [shop/1/2], metadata: {valid_labels: [TAX]}}
"""


def section(output: str, title: str) -> list[str]:
    """The lines of a report section (``---- title ----`` up to the next rule)."""
    found = re.search(rf"-+ {re.escape(title)} -+\n(.*?)(?=\n[-=]{{5,}})", output, re.DOTALL)
    assert found, output
    return found.group(1).splitlines()


def test_a_failing_scenario_prints_the_timeline_of_its_last_drain(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", wrong=WRONG)
    result = pytester.runpytest("-p", "receipt_compaction")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "expected: {'valid_labels': ['TAX']}" in output
    lines = section(output, "receipt-compaction: last drain")
    assert 3 <= len(lines) <= 41
    summary = lines[0]
    assert summary.startswith("drain 2, ")  # the seeding drain was the first
    assert "1 message (lines 0, words 1)" in summary
    assert "versions lines +0, words +1" in summary
    body = "\n".join(lines[1:])
    assert "DynamoDB stream     INSERT ReceiptWordLabel" in body  # the record
    assert "LABEL#GRAND_TOTAL" in body
    assert re.search(r"stream handler      seq …\d{6}: sent -> words", body)  # the decision
    assert "queue words         INSERT ReceiptWordLabel" in body  # the message
    assert "compaction handler (words): 1 message, 0 failed" in body  # the invocation
    assert re.search(
        r"S3 versions\s+words \d{8}_\d{6}_\d{6}_[0-9a-f]{8} \(parent \d{8}_", body
    )  # the version


def test_a_passing_test_prints_no_timeline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_drains(pipeline):\n    pipeline.drain()\n")
    result = pytester.runpytest("-p", "receipt_compaction", "-rA")
    result.assert_outcomes(passed=1)
    assert "last drain" not in result.stdout.str()


def test_kept_artifacts_hold_every_drain_timeline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_fails(pipeline):
            pipeline.drain()
            pipeline.drain()
            assert False, "on purpose"
        """
    )
    result = pytester.runpytest("-p", "receipt_compaction", "--receipt-compaction-keep-artifacts=true")
    result.assert_outcomes(failed=1)
    found = re.search(r"drain timelines: (\S+)", result.stdout.str())
    assert found, result.stdout.str()
    document = json.loads(Path(found.group(1)).read_text())
    assert document["outcome"] == "failed"
    assert [drain["number"] for drain in document["drains"]] == [1, 2]
    assert document["drains"][0]["summary"]["records"] == 0


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.kinds: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if "data-kind" in found:
            self.kinds.append(str(found["data-kind"]))
        if tag in {"link", "img", "iframe"} or (tag == "script" and "src" in found):
            self.external.append(tag)


@pytest.mark.parametrize("source", ["cli", "ini", "env"])
def test_trace_writes_a_self_contained_page_and_its_json_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str
) -> None:
    scenario = "label_insert_after_seeding_shows_up.scenario.yaml"
    shutil.copy(SCENARIOS / scenario, pytester.path / scenario)
    pytester.makepyfile("def test_without_a_pipeline():\n    pass\n")
    target = tmp_path / "traces"
    args = ["-p", "receipt_compaction"]
    if source == "cli":
        args.append(f"--receipt-compaction-trace={target}")
    elif source == "ini":
        pytester.makeini(f"[pytest]\nreceipt_compaction_trace = {target}\n")
    else:
        monkeypatch.setenv("RECEIPT_COMPACTION_TRACE", str(target))
    if source != "cli":  # one full run is enough to check the page; the others check the option is read
        pytester.makepyfile(test_drain="def test_drains(pipeline):\n    pipeline.drain()\n")
        args += ["-k", "drains"]
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=2 if source == "cli" else 1)
    pages = sorted(target.glob("*.html"))
    assert len(pages) == 1, pages  # a test without a pipeline writes nothing
    document = json.loads(pages[0].with_suffix(".json").read_text())
    assert document["outcome"] == "passed"
    page = Page()
    page.feed(pages[0].read_text())
    assert page.external == []
    if source != "cli":
        return
    assert document["test"].endswith("::label_insert_after_seeding_shows_up")
    drains = document["drains"]
    assert len(drains) == 2  # seeding, then the stage's drain
    # Every record, message, invocation and version the drain reports counted is drawn on the page.
    assert page.kinds.count("record") == sum(d["summary"]["records"] for d in drains)
    assert page.kinds.count("message") == sum(d["summary"]["messages"] for d in drains)
    assert page.kinds.count("invocation") == sum(d["summary"]["invocations"] for d in drains)
    published = sum(len(v) for d in drains for v in d["summary"]["published_versions"].values())
    assert page.kinds.count("version") == published == 3  # lines and words seeded, words again
