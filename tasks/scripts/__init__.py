"""Script tasks: Python and shell scripts run by a local process or in a container.

How to read this package: `models` holds the YAML properties (shared ones and the two
task runners'); `execution` is one attempt from properties to outputs, and the
`ScriptTask` base whose hooks `python` and `shell` fill in; `protocol` says what the
lines a script prints mean (Kestra's `::{…}::` outputs, metrics and logs); `files` moves
input and output files; `deps` caches Python virtual environments; `runners/` start the
script (`process`, `docker`).

`python` and `shell` are plugin families (each exports `TASKS`); flow-control tasks use
`execution`, `files` and `nsfiles` without them, so this package imports nothing.
"""
