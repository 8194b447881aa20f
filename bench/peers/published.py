"""Published figures for engines that cannot run on this machine: NOT MEASURED HERE.

Each entry is what its source says, on the source's hardware and versions; compare shapes,
not absolute numbers. Where a figure was looked for and not found, the entry says so
instead of guessing. Looked up for issue #7 (Nov 2026).
"""

from __future__ import annotations

__all__ = ["PUBLISHED"]

WINDMILL_STUDY = "https://www.windmill.dev/docs/misc/benchmarks/competitors"

PUBLISHED: list[dict[str, str]] = [
    {
        "engine": "Kestra 0.22.3",
        "workload": "40 sequential Python Script tasks, fibo(10), Process runner, 1 worker",
        "figure": "6.044 s total (~151 ms per task)",
        "setup": "Windmill's 2025 study, AWS m4.large, docker-compose",
        "source": "https://www.windmill.dev/docs/misc/benchmarks/competitors/kestra",
    },
    {
        "engine": "Windmill 1.483.1",
        "workload": "40 sequential Python tasks, fibo(10), 1 worker",
        "figure": "4.383 s total; 2.092 s in dedicated-worker mode",
        "setup": "Windmill's 2025 study, AWS m4.large",
        "source": "https://www.windmill.dev/docs/misc/benchmarks/competitors/kestra",
    },
    {
        "engine": "Hatchet 0.62.0 / Temporal / Windmill (Go)",
        "workload": "400 lightweight Go tasks, fibo(10), 1 worker",
        "figure": "Hatchet 35.845 s, Temporal 39.016 s, Windmill 19.702 s",
        "setup": "Windmill's 2025 study",
        "source": "https://www.windmill.dev/docs/misc/benchmarks/competitors/results/go",
    },
    {
        "engine": "Hatchet 0.62.0 (Python, 40 tasks)",
        "workload": "40 sequential Python tasks, fibo(10)",
        "figure": "not found: the Python results table was not in the text we could read",
        "setup": "Windmill's 2025 study",
        "source": "https://www.windmill.dev/docs/misc/benchmarks/competitors/results/python",
    },
    {
        "engine": "Windmill / Kestra / Temporal / Airflow / Prefect (versions not given)",
        "workload": "3-step sequential workflow: median / p95 latency, throughput (200 batch)",
        "figure": (
            "Windmill 103/105 ms, 152/s; Temporal 119/283 ms, 39/s; Kestra 177/326 ms, 68/s; "
            "Airflow 3,792/4,277 ms, 7.4/s; Prefect 9,679/12,631 ms, 1.3/s"
        ),
        "setup": "Windmill draft PR, 'local dev machine', Docker Compose per engine (Apr 2026)",
        "source": "https://github.com/windmill-labs/windmill/pull/8708",
    },
    {
        "engine": "Kestra 0.23.4 OSS (PostgreSQL) / EE (Kafka)",
        "workload": "2-task flow (OutputValues + Log) triggered by webhook, steady rate",
        "figure": (
            "OSS: 0.31 s latency at 250 exec/min, 0.47 s at 1,000, 0.9 s at 1,500, 24 s at "
            "2,000; EE: 0.24-0.45 s up to 2,000 exec/min, 18 s at 2,500"
        ),
        "setup": "GCP e2-standard-4 (4 vCPU) + remote database/Kafka",
        "source": "https://kestra.io/docs/performance/benchmark",
    },
    {
        "engine": "Kestra 1.0",
        "workload": "the same kind of flow at a steady rate (JDBC)",
        "figure": "latency 246 ms at 1,000 exec/min, 336 ms at 2,000, 635 ms at 2,500, 13 s at 3,000",
        "setup": "Kestra's controlled benchmark, hardware not restated in the post",
        "source": "https://kestra.io/blogs/performance-improvements-1-0",
    },
    {
        "engine": "Kestra 1.3 / 2.0",
        "workload": "any",
        "figure": (
            "not found: kestra.io/docs/1.3/performance links the same benchmark page, whose "
            "figures are labelled 0.23.4; no 2.0 figure found (bench/scripts.py's '~87 ms per "
            "Process task, 675 ms Docker' has no source we could find)"
        ),
        "setup": "",
        "source": "https://kestra.io/docs/1.3/performance",
    },
    {
        "engine": "Hatchet v0.55.26 (v1 engine)",
        "workload": "event-triggered runs at a steady rate",
        "figure": "100 / 500 / 2,000 runs/s with ~40 / ~48 / ~220 ms average execution time",
        "setup": "8-CPU Amazon RDS m7g.2xlarge database; 'up to 10k/s' on m7g.8xlarge",
        "source": "https://docs.hatchet.run/self-hosting/benchmarking",
    },
]
