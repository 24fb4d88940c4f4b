"""Loading scenario YAML with line numbers, so every error can name the file and line it is about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = ["LineDict", "LineList", "ScenarioSyntaxError", "line_of", "load_scenario_yaml"]


class LineDict(dict[str, Any]):
    """A mapping that remembers the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineList(list[Any]):
    """A sequence that remembers its line, and the first and last line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]
    item_end_lines: list[int]


class ScenarioSyntaxError(ValueError):
    def __init__(self, path: Path, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        super().__init__(f"{path}:{line}: {problem}")


class _LineLoader(yaml.SafeLoader):
    pass


def _mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"keys must be strings, got {key!r}", key_node.start_mark
            )
        if key in result:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    result.item_end_lines = [_last_line(child) for child in node.value]
    return result


def _last_line(node: yaml.Node) -> int:
    """The last line a node's text is on (1-based). A block node ends where the next token starts, so when
    only indentation precedes that point on its line, the node ended on an earlier line."""
    end = node.end_mark
    before = end.buffer[end.pointer - end.column : end.pointer] if end.buffer else ""
    return end.line if end.column == 0 or not before.strip() else end.line + 1


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load_scenario_yaml(path: Path) -> Any:
    """Parse the file; a YAML error becomes a ScenarioSyntaxError with the file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise ScenarioSyntaxError(path, line, f"not valid YAML: {error.problem or error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioSyntaxError(path, 1, f"not UTF-8 text: {error}") from None


def line_of(document: Any, path: list[Any] | tuple[Any, ...]) -> int:
    """The line of the value at ``path`` (keys and indexes) in a loaded document, or of its nearest parent."""
    line = getattr(document, "line", 1)
    node = document
    for step in path:
        if isinstance(node, LineDict) and step in node:
            line = node.key_lines.get(step, line)
            node = node[step]
        elif isinstance(node, LineList) and isinstance(step, int) and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line
