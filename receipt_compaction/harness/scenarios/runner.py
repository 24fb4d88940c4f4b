"""Running a validated scenario against a ``LocalPipeline``: seed, then each stage in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from receipt_compaction.entities import ReceiptWordLabel
from receipt_compaction.harness.pipeline import ReceiptSpec
from receipt_compaction.harness.scenarios.context import ScenarioContext, StageFailure

if TYPE_CHECKING:
    from receipt_compaction.harness.pipeline import LocalPipeline
    from receipt_compaction.harness.scenarios.spec import Scenario, Stage

__all__ = ["ScenarioFailure", "run_scenario"]


@dataclass
class ScenarioFailure(Exception):
    """A stage failed; ``repr_failure`` shows it like the scenario reads."""

    scenario: Scenario
    stage: Stage | None
    problem: str
    expected: Any = None
    actual: Any = None
    cause: BaseException | None = None

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        where = (
            f"stage {self.stage.name!r} ({self.scenario.path.name}:{self.stage.line})"
            if self.stage
            else f"seed ({self.scenario.path.name})"
        )
        lines = [f"scenario {self.scenario.name!r} failed at {where}", f"  {self.problem}"]
        if self.expected is not None or self.actual is not None:
            lines += [f"  expected: {self.expected!r}", f"  actual:   {self.actual!r}"]
        if self.cause is not None:
            lines.append(f"  cause: {type(self.cause).__name__}: {self.cause}")
        return lines


def run_scenario(scenario: Scenario, pipeline: LocalPipeline) -> ScenarioContext:
    context = ScenarioContext(scenario.name, pipeline)
    try:
        _seed(context, scenario)
    except StageFailure as failure:
        raise ScenarioFailure(scenario, None, failure.problem, failure.expected, failure.actual) from None
    for stage in scenario.stages:
        try:
            stage.action.run(context, stage.argument)
        except StageFailure as failure:
            raise ScenarioFailure(
                scenario, stage, failure.problem, failure.expected, failure.actual
            ) from None
    return context


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
        labels += [
            ReceiptWordLabel(
                image_id=key.image_id,
                receipt_id=key.receipt_id,
                line_id=label["line"],
                word_id=label["word"],
                label=label["label"],
                validation_status=label.get("status", "NONE"),
            )
            for label in receipt.get("labels", [])
        ]
    if specs:
        context.pipeline.seed_receipts(specs)
    if labels:
        for label in labels:
            context.pipeline.put(label)
        report = context.pipeline.drain()
        if report.batch_item_failures:
            raise StageFailure("seeding labels left failures", expected=(), actual=report.batch_item_failures)
