"""Kestra's core tasks: logging, outputs, flow control, execution control, storage, KV,
namespace files, trigger.Toggle, and counting and purging past executions (count.py,
purge.py).

Each module is a plugin family of its own (it exports `TASKS`; tasks.FAMILIES says
which type names it holds), so that a flow that only logs imports `log.py` and not
the rest. This package imports nothing.
"""
