"""Reading the docs as data: marked code blocks, marked regions and tables of Markdown files."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

# A marker comment, then (possibly indented, as inside a list item) one fenced code block.
_MARKED_BLOCK = re.compile(
    r"<!-- (?P<kind>[\w-]+): ?(?P<name>[\w-]*) -->[ \t]*\n"
    r"(?P<indent>[ \t]*)```(?P<lang>\w*)\n(?P<body>.*?)\n[ \t]*```",
    re.DOTALL,
)


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block that follows a ``<!-- kind: name -->`` marker."""

    kind: str
    name: str
    lang: str
    text: str

    def json(self) -> Any:
        """The block parsed as JSON."""
        return json.loads(self.text)


def read(relative: str) -> str:
    """A repository file's text."""
    return (REPO / relative).read_text(encoding="utf-8")


def marked_blocks(text: str, kind: str) -> dict[str, CodeBlock]:
    """Every code block marked ``<!-- kind: name -->`` (or ``<!-- kind:name -->``), by name."""
    blocks: dict[str, CodeBlock] = {}
    for match in _MARKED_BLOCK.finditer(text):
        if match["kind"] != kind:
            continue
        name = match["name"]
        assert name not in blocks, f"two blocks are marked {kind}: {name}"
        blocks[name] = CodeBlock(kind, name, match["lang"], textwrap.dedent(match["body"]))
    return blocks


def markers(text: str, kind: str) -> list[str]:
    """The names of every ``<!-- kind: name -->`` marker, with or without a block after it."""
    pattern = re.compile(rf"<!-- {re.escape(kind)}: ?([\w-]*) -->")
    return pattern.findall(text)


def region(text: str, name: str) -> str:
    """The text between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    assert start in text, f"missing {start}"
    assert end in text, f"missing {end}"
    return text.split(start, 1)[1].split(end, 1)[0]


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of every body row of the Markdown table(s) in ``markdown``."""
    rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[1:]  # without the header row


def links(text: str) -> list[str]:
    """Targets of the Markdown links ``[label](target)`` in ``text``."""
    return re.findall(r"\]\(([^)\s]+)\)", text)
