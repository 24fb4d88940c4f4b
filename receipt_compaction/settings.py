"""Handler settings read from the environment (DESIGN §4); a missing variable is one clear error."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from receipt_compaction.chroma_ids import COLLECTIONS, CollectionName

__all__ = ["QUEUE_URL_VARIABLES", "SettingsError", "StreamProcessorSettings", "aws_region", "require_env"]

QUEUE_URL_VARIABLES: Mapping[CollectionName, str] = {"lines": "LINES_QUEUE_URL", "words": "WORDS_QUEUE_URL"}


class SettingsError(RuntimeError):
    """A required setting is missing or invalid; the message names the variable to set."""


def require_env(name: str, purpose: str, environ: Mapping[str, str]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(f"environment variable {name} is not set: it must hold {purpose}")
    return value


def aws_region(environ: Mapping[str, str]) -> str:
    """``AWS_REGION`` (set by Lambda itself), else boto3's ``AWS_DEFAULT_REGION``."""
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SettingsError("environment variable AWS_REGION is not set: it must hold the AWS region name")
    return region


@dataclass(frozen=True)
class StreamProcessorSettings:
    region: str
    queue_urls: Mapping[CollectionName, str]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StreamProcessorSettings:
        env = os.environ if environ is None else environ
        urls = {
            collection: require_env(
                QUEUE_URL_VARIABLES[collection],
                f"the URL of the SQS queue of the {collection!r} collection",
                env,
            )
            for collection in COLLECTIONS
        }
        return cls(region=aws_region(env), queue_urls=urls)
