"""Chaos runs: Podium's roles as processes, random work, faults, then the invariants.

    python -m tests.chaos --seconds 600 --seed 7

`engine.ChaosRun` does the run (see its docstring for the work and the faults);
`flows` holds the flows it deploys; test_chaos.py runs a short seeded one in CI;
test_invariants.py feeds each invariant check a log that breaks it; test_poison.py has a
task kill its executor every time; test_known_faults.py keeps, as regression tests, the
faults chaos runs found. docs/reliability.md has the figures.
"""
