"""The harness engine: runs the pipeline locally the way AWS runs it, with no pytest in it.

Backends start or find AWS endpoints (``backends``), the janitor creates and removes one isolated set of
resources (``janitor``), event sources drive the real handlers as event source mappings would
(``event_sources``), faults change what one AWS call does (``faults``), and the scenario engine loads and runs
``*.scenario.yaml`` files (``scenarios``). ``receipt_compaction.harness.pipeline.LocalPipeline`` ties them
together; it imports the compactor (chromadb), so it is not imported here.
"""

from __future__ import annotations

from receipt_compaction.harness.backends import Backend, BackendUnavailable, make_executor
from receipt_compaction.harness.event_sources import (
    Invocation,
    QueueSource,
    StreamSource,
    StreamSourceSettings,
    read_stream_records,
)
from receipt_compaction.harness.janitor import PipelineResources, pipeline_resources
from receipt_compaction.harness.lambda_events import lambda_sqs_event, lambda_stream_event, stream_record
from receipt_compaction.harness.lambda_runtime import handler_environment
from receipt_compaction.harness.resources import create_bucket, create_queue, create_table
from receipt_compaction.harness.seeding import receipt_entities
from receipt_compaction.harness.settings import HarnessSettings

__all__ = [
    "Backend",
    "BackendUnavailable",
    "HarnessSettings",
    "Invocation",
    "PipelineResources",
    "QueueSource",
    "StreamSource",
    "StreamSourceSettings",
    "create_bucket",
    "create_queue",
    "create_table",
    "handler_environment",
    "lambda_sqs_event",
    "lambda_stream_event",
    "make_executor",
    "pipeline_resources",
    "read_stream_records",
    "receipt_entities",
    "stream_record",
]
