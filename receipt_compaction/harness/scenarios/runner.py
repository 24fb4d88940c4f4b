"""Running a validated scenario against a ``LocalPipeline``: seed, then each stage in order.

A stage that fails raises ``ScenarioFailure``: data (the scenario, the stage, the problem, expected, actual,
the cause) that ``report()`` lays out like the scenario reads: the header with file and line, the stage's YAML
quoted from the file, expected against actual, then the cause.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import ValidationError

from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.entities.base import describe_validation_error
from receipt_compaction.harness.pipeline import ReceiptSpec
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from receipt_compaction.harness.pipeline import LocalPipeline
    from receipt_compaction.harness.scenarios.spec import Scenario, Stage

__all__ = ["ReportLine", "ScenarioFailure", "run_scenario"]

ReportKind: TypeAlias = Literal["header", "blank", "source", "problem", "expected", "actual", "cause"]


@dataclass(frozen=True)
class ReportLine:
    kind: ReportKind
    text: str


@dataclass
class ScenarioFailure(Exception):
    """A stage failed; ``report()`` shows it like the scenario reads (the plugin's ``repr_failure``)."""

    scenario: Scenario
    stage: Stage | None
    problem: str
    expected: Any = None
    actual: Any = None
    cause: BaseException | None = None

    def __str__(self) -> str:
        return "\n".join(line.text for line in self.report())

    @property
    def line(self) -> int:
        return self.stage.line if self.stage else self.scenario.line

    def header(self) -> str:
        where = f"stage {self.stage.name!r}" if self.stage else "seed"
        return f"scenario {self.scenario.name!r} failed at {where} ({self.scenario.path.name}:{self.line})"

    def source(self) -> list[tuple[int, str]]:
        """The failing stage's lines of YAML, numbered, read from the file (none if it cannot be read)."""
        if self.stage is None:
            return []
        try:
            text = self.scenario.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return []
        first, last = self.stage.line, max(self.stage.end_line, self.stage.line)
        numbered = [(number, text[number - 1]) for number in range(first, min(last, len(text)) + 1)]
        while len(numbered) > 1 and _filler(numbered[-1][1]):  # blank or comment lines after the stage
            numbered.pop()
        return numbered

    def report(self) -> list[ReportLine]:
        lines = [ReportLine("header", self.header())]
        source = self.source()
        if source:
            width = len(str(source[-1][0]))
            lines.append(ReportLine("blank", ""))
            lines += [ReportLine("source", f"  {number:>{width}} | {text}") for number, text in source]
            lines.append(ReportLine("blank", ""))
        lines.append(ReportLine("problem", f"  {self.problem}"))
        if self.expected is not None or self.actual is not None:
            lines += [
                ReportLine("expected", f"  expected: {self.expected!r}"),
                ReportLine("actual", f"  actual:   {self.actual!r}"),
            ]
        if self.cause is not None:
            lines.append(ReportLine("cause", f"  cause: {type(self.cause).__name__}: {self.cause}"))
        return lines


def _filler(text: str) -> bool:
    stripped = text.strip()
    return not stripped or stripped.startswith("#")


def run_scenario(scenario: Scenario, pipeline: LocalPipeline) -> ScenarioContext:
    context = ScenarioContext(scenario.name, pipeline)
    try:
        _run_stages(context, scenario)
    finally:
        context.close()
    return context


def _run_stages(context: ScenarioContext, scenario: Scenario) -> None:
    try:
        _seed(context, scenario)
    except StageFailure as failure:
        raise _failure(scenario, None, failure) from None
    for stage in scenario.stages:
        try:
            stage.action.run(context, stage.argument)
        except StageFailure as failure:
            raise _failure(scenario, stage, failure) from None
        except Exception as error:  # a bug, not a failed expectation: the traceback, and where it happened
            error.add_note(f"in stage {stage.name!r} of {scenario.path}:{stage.line}")
            raise


def _failure(scenario: Scenario, stage: Stage | None, failure: StageFailure) -> ScenarioFailure:
    cause = failure.__cause__
    return ScenarioFailure(scenario, stage, failure.problem, failure.expected, failure.actual, cause)


def _seed(context: ScenarioContext, scenario: Scenario) -> None:
    labels = []
    specs = []
    for receipt in scenario.seed:
        key = context.new_receipt(
            receipt["receipt"], image_id=receipt.get("image_id"), receipt_id=receipt.get("receipt_id", 1)
        )
        specs.append(
            ReceiptSpec(
                image_id=key.image_id,
                receipt_id=key.receipt_id,
                lines=[[str(word) for word in line] for line in receipt["lines"]],
                merchant_name=receipt.get("merchant_name"),
            )
        )
        labels += [_label(key.image_id, key.receipt_id, label) for label in receipt.get("labels", [])]
    if specs:
        context.pipeline.seed_receipts(specs)
    if labels:
        for label in labels:
            context.pipeline.put(label)
        report = context.pipeline.drain()
        if report.batch_item_failures:
            raise StageFailure("seeding labels left failures", expected=(), actual=report.batch_item_failures)


def _label(image_id: str, receipt_id: int, fields: Mapping[str, Any]) -> ReceiptWordLabel:
    try:
        return ReceiptWordLabel(image_id=image_id, receipt_id=receipt_id, **fields)
    except ValidationError as error:
        problems = "; ".join(describe_validation_error(error))
        raise StageFailure(f"seed label {dict(fields)} is not a valid ReceiptWordLabel: {problems}") from None
