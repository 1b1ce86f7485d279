"""The exception tree of Tessera.

Everything a user can cause derives from :class:`TesseraError` and carries enough to say
where (a file position or a field path) and why, with a stable code.  A problem that is
Tessera's own fault is an :class:`InternalError` and is never dressed up as a user error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_REPORTED = 50


class TesseraError(Exception):
    """Root of every error Tessera raises on purpose."""


class InternalError(TesseraError):
    """A bug in Tessera, not in what the user gave it."""


@dataclass(frozen=True, slots=True)
class Location:
    """A position in a rules file, 1-based like every editor."""

    file: str
    line: int
    column: int
    end_line: int = 0
    end_column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One error or warning about a rules file."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    location: Location
    source_line: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.code)

    def render(self) -> str:
        """``FILE:LINE:COL: error[CODE]: message`` then the line and a caret under it."""
        head = f"{self.location}: {self.severity}[{self.code}]: {self.message}"
        if not self.source_line:
            return head
        text = self.source_line.rstrip("\n").expandtabs(1)
        start = max(self.location.column - 1, 0)
        width = 1
        if self.location.end_line == self.location.line and self.location.end_column:
            width = max(self.location.end_column - self.location.column, 1)
        width = max(1, min(width, len(text) - start))
        return f"{head}\n    {text}\n    {' ' * start}{'^' * width}"


@dataclass(slots=True)
class Diagnostics:
    """Collects every problem of a programme so that all of them are reported together."""

    items: list[Diagnostic] = field(default_factory=list)

    def add(self, diagnostic: Diagnostic) -> None:
        self.items.append(diagnostic)

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted((d for d in self.items if d.is_error), key=Diagnostic.sort_key)

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted((d for d in self.items if not d.is_error), key=Diagnostic.sort_key)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=Diagnostic.sort_key)

    def render(self, limit: int = MAX_REPORTED) -> str:
        shown = self.sorted()
        lines = [d.render() for d in shown[:limit]]
        if len(shown) > limit:
            lines.append(f"... and {len(shown) - limit} more")
        return "\n".join(lines)


class RulesError(TesseraError):
    """A rules file that does not compile; holds every diagnostic of the file."""

    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        errors = diagnostics.errors
        first = errors[0] if errors else None
        summary = f"{len(errors)} error(s)"
        if first is not None:
            summary = f"{first.location}: error[{first.code}]: {first.message} ({summary})"
        super().__init__(summary)

    def render(self, limit: int = MAX_REPORTED) -> str:
        return self.diagnostics.render(limit)


class InputError(TesseraError):
    """A transaction, member record or request field that cannot be used.

    ``field`` is a path such as ``basket[1].qty`` so that the caller can be told exactly what
    to fix; ``code`` is stable for programs that react to it.
    """

    def __init__(self, field: str, message: str, code: str = "invalid_field") -> None:
        self.field = field
        self.code = code
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)
