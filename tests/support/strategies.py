"""Hypothesis strategies for every entity class, field by field."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from receipt_compaction.entities import ENTITY_CLASSES, Entity

image_ids = st.uuids().map(str)
optional_text = st.none() | st.text(min_size=1, max_size=20)
confidences = st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=4)
statuses = st.sampled_from(["NONE", "PENDING", "VALID", "INVALID", "NEEDS_REVIEW"])
run_states = st.sampled_from(["PENDING", "PROCESSING", "COMPLETED", "FAILED"])

FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "image_id": image_ids,
    "receipt_id": st.integers(1, 99999),
    "line_id": st.integers(0, 99999),
    "word_id": st.integers(0, 99999),
    "label": st.from_regex(r"[A-Z][A-Z0-9_]{0,20}", fullmatch=True),
    "run_id": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,30}", fullmatch=True),
    "text": st.text(max_size=30),
    "confidence": st.none() | confidences,
    "width": st.none() | st.integers(0, 10**6),
    "height": st.none() | st.integers(0, 10**6),
    "validation_status": statuses,
    "lines_state": run_states,
    "words_state": run_states,
    "lines_delta_prefix": st.just("") | st.text(min_size=1, max_size=30),
    "words_delta_prefix": st.just("") | st.text(min_size=1, max_size=30),
    "lines_merged_vectors": st.integers(0, 10**6),
    "words_merged_vectors": st.integers(0, 10**6),
}


def entity_strategy(entity_class: type[Entity]) -> st.SearchStrategy[Entity]:
    fields = {name: FIELD_STRATEGIES.get(name, optional_text) for name in entity_class.model_fields}
    return st.builds(entity_class, **fields)


any_entity = st.one_of([entity_strategy(entity_class) for entity_class in ENTITY_CLASSES])
