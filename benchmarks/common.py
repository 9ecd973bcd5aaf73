"""Shared by the benchmark scripts: the 14k-store / ~1.7M-poll data set, generated once and cached."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from storeuptime_pipeline.generator.data import GeneratedDataset, generate_dataset

CACHE = Path(os.environ.get("STOREUPTIME_BENCH_DIR", Path(__file__).resolve().parent / ".data"))


def store_ids_of(ds: GeneratedDataset) -> list[str]:
    """Every store id of a data set, so another period can be generated for the same stores."""
    frames = [
        pd.read_csv(p, dtype=str, usecols=["store_id"])
        for p in (ds.status_path, ds.hours_path, ds.timezones_path)
    ]
    return sorted(pd.concat(frames)["store_id"].unique())


def dataset(
    stores: int = 14_000,
    days: int = 8,
    seed: int = 42,
    end: str | None = None,
    store_ids: list[str] | None = None,
) -> GeneratedDataset:
    """The benchmark data set, generated once per arguments and cached (generation is deterministic)."""
    suffix = f"_{end.replace(' ', 'T').replace(':', '')}" if end else ""
    suffix += "_ids" if store_ids else ""
    folder = CACHE / f"s{stores}_d{days}_seed{seed}{suffix}"
    marker = folder / "dataset.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        return GeneratedDataset(
            directory=folder,
            status_path=Path(info["status"]),
            hours_path=Path(info["hours"]),
            timezones_path=Path(info["timezones"]),
            stores=info["stores"],
            polls=info["polls"],
            start=pd.Timestamp(info["start"]),
            end=pd.Timestamp(info["end"]),
        )
    extra = {"end": end} if end else {}
    ds = generate_dataset(folder, stores=stores, days=days, seed=seed, store_ids=store_ids, **extra)
    info = {
        "status": str(ds.status_path),
        "hours": str(ds.hours_path),
        "timezones": str(ds.timezones_path),
        "stores": ds.stores,
        "polls": ds.polls,
        "start": ds.start.isoformat(),
        "end": ds.end.isoformat(),
    }
    marker.write_text(json.dumps(info))
    return ds


@contextmanager
def timed(label: str, results: dict[str, float]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    results[label] = time.perf_counter() - started


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
