"""Metadata an operator reads in the UI: small markdown tables rather than raw dumps."""

from __future__ import annotations

import pandas as pd
from dagster import MetadataValue


def markdown_table(frame: pd.DataFrame, max_rows: int = 10) -> MetadataValue:
    """A frame as a markdown table (no tabulate dependency), cut to ``max_rows``."""
    shown = frame.head(max_rows)
    if shown.empty:
        return MetadataValue.md("_(none)_")
    header = "| " + " | ".join(map(str, shown.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    rows = [
        "| " + " | ".join(("" if v is None else str(v)).replace("|", "\\|") for v in row) + " |"
        for row in shown.itertuples(index=False)
    ]
    return MetadataValue.md("\n".join([header, rule, *rows]))


def counts_table(counts: dict[str, int], key: str = "reason", value: str = "rows") -> MetadataValue:
    return markdown_table(pd.DataFrame({key: list(counts), value: list(counts.values())}), max_rows=20)
