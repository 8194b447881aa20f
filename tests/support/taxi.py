"""NY-taxi-like CSV files with the course's yellow and green schemas, made up locally.

The real files are downloaded from GitHub in the course; tests serve these instead.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from datetime import datetime, timedelta

YELLOW = [
    "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count", "trip_distance",
    "RatecodeID", "store_and_fwd_flag", "PULocationID", "DOLocationID", "payment_type", "fare_amount",
    "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount",
    "congestion_surcharge",
]  # fmt: skip
GREEN = [
    "VendorID", "lpep_pickup_datetime", "lpep_dropoff_datetime", "store_and_fwd_flag", "RatecodeID",
    "PULocationID", "DOLocationID", "passenger_count", "trip_distance", "fare_amount", "extra", "mta_tax",
    "tip_amount", "tolls_amount", "ehail_fee", "improvement_surcharge", "total_amount", "payment_type",
    "trip_type", "congestion_surcharge",
]  # fmt: skip


def _row(columns: list[str], rng: random.Random, month_start: datetime) -> dict[str, str]:
    pickup = month_start + timedelta(seconds=rng.randrange(28 * 24 * 3600))
    dropoff = pickup + timedelta(seconds=rng.randrange(60, 3600))
    fare = round(rng.uniform(2.5, 80), 2)
    values = {
        "VendorID": str(rng.choice([1, 2])),
        "passenger_count": str(rng.randint(1, 6)),
        "trip_distance": f"{rng.uniform(0.1, 30):.2f}",
        "RatecodeID": "1",
        "store_and_fwd_flag": "N",
        "PULocationID": str(rng.randint(1, 265)),
        "DOLocationID": str(rng.randint(1, 265)),
        "payment_type": str(rng.randint(1, 4)),
        "fare_amount": f"{fare}",
        "extra": "0.5",
        "mta_tax": "0.5",
        "tip_amount": f"{rng.uniform(0, 10):.2f}",
        "tolls_amount": "0",
        "ehail_fee": "",
        "improvement_surcharge": "0.3",
        "total_amount": f"{fare + 1.3:.2f}",
        "trip_type": "1",
        "congestion_surcharge": "",
    }
    for prefix in ("tpep", "lpep"):
        values[f"{prefix}_pickup_datetime"] = pickup.strftime("%Y-%m-%d %H:%M:%S")
        values[f"{prefix}_dropoff_datetime"] = dropoff.strftime("%Y-%m-%d %H:%M:%S")
    return {c: values[c] for c in columns}


def make_csv(
    taxi: str, year: int, month: int, *, rows: int, duplicates: int, seed: int = 7
) -> bytes:
    """A CSV (header + rows); `duplicates` of the rows appear a second time."""
    rng = random.Random(seed + month + (0 if taxi == "yellow" else 1000))
    columns = YELLOW if taxi == "yellow" else GREEN
    start = datetime(year, month, 1)
    body = [_row(columns, rng, start) for _ in range(rows)]
    body += rng.sample(body, duplicates)
    rng.shuffle(body)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(body)
    return out.getvalue().encode()


def make_csv_gz(taxi: str, year: int, month: int, *, rows: int, duplicates: int) -> bytes:
    return gzip.compress(make_csv(taxi, year, month, rows=rows, duplicates=duplicates))
