"""What ``replace_pooling`` changed, as data and as a readable table."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Replacement:
    """One swapped module: where, what it was, what it is now, the shapes it saw on the dry run, added parameters."""

    path: str
    old: str
    new: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    added_parameters: int


@dataclass
class SurgeryReport:
    """Every replacement of one ``replace_pooling`` call, plus the layers it left alone and why."""

    replacements: list[Replacement] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def added_parameters(self) -> int:
        return sum(r.added_parameters for r in self.replacements)

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.replacements]

    def __len__(self) -> int:
        return len(self.replacements)

    def __str__(self) -> str:
        def shape(value: tuple[int, ...] | None) -> str:
            return "x".join(map(str, value)) if value else "-"

        header = ("module", "was", "now", "input", "output", "+params")
        rows = [
            (r.path, r.old, r.new, shape(r.input_shape), shape(r.output_shape), f"{r.added_parameters:,}")
            for r in self.replacements
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(
                cell.ljust(w) if i < 5 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()

        out = [line(header), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in rows]
        out.append(f"{len(rows)} replaced, {self.added_parameters:,} parameters added")
        out += [f"left alone: {path} ({reason})" for path, reason in self.skipped]
        return "\n".join(out)
