"""Running the pipeline locally the way AWS runs it (no pytest here).

``receipt_compaction.local.pipeline.LocalPipeline`` (heavy: it imports the compactor) drives the real
handlers; the modules imported here are light.
"""

from __future__ import annotations

from receipt_compaction.local.environment import PipelineResources, pipeline_resources
from receipt_compaction.local.handler_env import handler_environment
from receipt_compaction.local.queue_source import lambda_sqs_event
from receipt_compaction.local.records import stream_record
from receipt_compaction.local.resources import create_bucket, create_queue, create_table
from receipt_compaction.local.seeding import receipt_entities
from receipt_compaction.local.sources import Invocation, QueueSource, StreamSource, StreamSourceSettings
from receipt_compaction.local.stream_source import lambda_stream_event, read_stream_records

__all__ = [
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
    "pipeline_resources",
    "read_stream_records",
    "receipt_entities",
    "stream_record",
]
