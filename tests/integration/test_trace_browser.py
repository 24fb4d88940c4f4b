"""The HTML trace as users open it: a real headless Chromium draws the swimlanes and every event of a real
drain from the file alone (no request leaves the page), an event opens on a click, and the screenshot is
not blank."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from receipt_compaction.entities import ReceiptMetadata, ReceiptWordLabel
from receipt_compaction.harness.pipeline import LocalPipeline
from receipt_compaction.harness.trace import LANE_TITLES, LANES, write_trace_files
from tests.support.browser import INSTALL_HINT, chromium, find_browser

IMAGE = "b0b0b000-1234-4abc-8def-0123456789ab"
FOUND = find_browser()

pytestmark = pytest.mark.skipif(FOUND is None, reason=f"the browser test {INSTALL_HINT}")


def non_blank(png: bytes) -> tuple[int, float]:
    """How many distinct colours the screenshot has, and the share of pixels that are not background."""
    from PIL import Image  # noqa: PLC0415 - the dev extra's

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    background = max(colours)[0] if colours else 0
    total = image.width * image.height
    return len(colours), 1 - background / total


def test_chromium_draws_the_swimlanes_and_every_event(pipeline: LocalPipeline, tmp_path: Path) -> None:
    assert FOUND is not None
    pipeline.seed_receipt(image_id=IMAGE, receipt_id=1, lines=[["TOTAL", "4.20"]])
    pipeline.put(
        ReceiptWordLabel(
            image_id=IMAGE, receipt_id=1, line_id=1, word_id=2, label="GRAND_TOTAL", validation_status="VALID"
        )
    )
    pipeline.put(ReceiptMetadata(image_id=IMAGE, receipt_id=1, merchant_name="Corner Shop"))
    pipeline.drain()
    page, _ = write_trace_files(
        tmp_path / "trace", test="browser::drain", outcome="passed", traces=pipeline.traces
    )
    events = [event for trace in pipeline.traces for event in trace.events]

    with chromium(*FOUND, tmp_path / "profile") as browser:
        browser.get(page.as_uri())
        assert browser.title.startswith("browser::drain")
        heads = browser.find_elements("css selector", ".drain .head[data-lane]")
        assert [head.text for head in heads] == [LANE_TITLES[lane] for lane in LANES] * len(pipeline.traces)
        assert all(head.is_displayed() for head in heads)
        drawn = browser.find_elements("css selector", ".ev")
        assert len(drawn) == len(events)
        assert [element.get_attribute("data-kind") for element in drawn] == [event.kind for event in events]
        versions = [e.detail["version_id"] for e in events if e.kind == "version"]
        assert [
            e.get_attribute("data-ref") for e in drawn if e.get_attribute("data-kind") == "version"
        ] == versions
        # Each event sits in its lane's column, right under the lane's heading.
        for element in drawn[:40]:
            head = next(
                h for h in heads if h.get_attribute("data-lane") == element.get_attribute("data-lane")
            )
            assert abs(element.location["x"] - head.location["x"]) <= 2
            assert element.size["width"] > 40
        # An event's data opens on a click.
        version = next(e for e in drawn if e.get_attribute("data-kind") == "version")
        browser.execute_script("arguments[0].scrollIntoView()", version)
        version.find_element("css selector", "summary").click()
        assert '"parent_version"' in version.find_element("css selector", "pre").text
        # The page asked for nothing: no stylesheet, script, font or image was loaded.
        assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
        last = browser.find_elements("css selector", "section.drain")[-1]
        browser.execute_script("arguments[0].scrollIntoView()", last)
        screenshot = browser.get_screenshot_as_png()

    (tmp_path / "trace.png").write_bytes(screenshot)
    assert screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    colours, drawn_share = non_blank(screenshot)
    assert colours > 50  # lanes, events in their colours, text
    assert drawn_share > 0.05
