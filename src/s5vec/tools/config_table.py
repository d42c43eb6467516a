"""The README's configuration table, generated from ``Settings`` so the two never drift.

``config_table()`` renders every environment variable of ``s5vec.config.Settings`` (name,
default, description) as a Markdown table. ``update_readme(path)`` replaces the text between
the ``<!-- config-table:start -->`` and ``<!-- config-table:end -->`` markers with it; a test
compares the README with ``config_table()``, so a new setting fails the tests until
``s5vec config-table --update README.md`` is run.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import Annotated

import typer
from pydantic.fields import FieldInfo

from s5vec.config import Settings

START_MARKER = "<!-- config-table:start -->"
END_MARKER = "<!-- config-table:end -->"


class MarkerError(ValueError):
    """The file lacks the start/end markers (or has them out of order)."""


def default_text(field: FieldInfo) -> str:
    """A field's default as a Markdown cell: the value as written in the environment."""
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "*unset*"
    if isinstance(value, list):
        return f"`{','.join(str(item) for item in value)}`" if value else "*empty*"
    return f"`{_text(value)}`"


def _text(value: object) -> str:
    """A non-empty default in its environment spelling."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, PurePath):
        # Path("./data") prints as "data": keep the "./" that says "relative to the cwd".
        text = value.as_posix()
        return text if value.is_absolute() or text.startswith(".") else f"./{text}"
    return str(value)


def config_table() -> str:
    """Every setting as a Markdown table: variable, default, meaning (one line per variable)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        meaning = (field.description or "").replace("|", "\\|")
        lines.append(f"| `{name.upper()}` | {default_text(field)} | {meaning} |")
    return "\n".join(lines) + "\n"


def table_in(text: str) -> str:
    """The text between the markers (without them); MarkerError when they are missing."""
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise MarkerError(f"expected {START_MARKER} ... {END_MARKER} in that order")
    return text[start + len(START_MARKER) : end].strip("\n") + "\n"


def update_readme(path: Path) -> bool:
    """Rewrite the table between the markers in ``path``; True when the file changed."""
    text = path.read_text(encoding="utf-8")
    table_in(text)  # validates the markers
    head, rest = text.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    new = f"{head}{START_MARKER}\n{config_table()}{END_MARKER}{tail}"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


def config_table_command(
    update: Annotated[
        Path | None,
        typer.Option(help="Rewrite the table between the config-table markers of this file"),
    ] = None,
) -> None:
    """Print the configuration table (Markdown), or update it in a file such as README.md."""
    if update is None:
        typer.echo(config_table(), nl=False)
        return
    try:
        changed = update_readme(update)
    except (OSError, MarkerError) as exc:
        typer.echo(f"error: {update}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{update}: {'updated' if changed else 'already up to date'}", err=True)
