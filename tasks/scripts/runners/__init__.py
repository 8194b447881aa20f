"""Task runners: where a script task's one script runs.

Read `base` first (what a runner is given: a `Launch`), then `process` (a local process
group, Kestra's `io.kestra.plugin.core.runner.Process`) and `docker` (a container through
the Docker API, Kestra's `io.kestra.plugin.scripts.runner.docker.Docker`).
"""

from tasks.scripts.runners.base import Launch, Runner
from tasks.scripts.runners.docker import DockerRunner, cleanup_orphans
from tasks.scripts.runners.process import ProcessRunner, run_process

__all__ = ["DockerRunner", "Launch", "ProcessRunner", "Runner", "cleanup_orphans", "run_process"]
