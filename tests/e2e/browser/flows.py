"""Flows the browser tests deploy: one per thing a page must show."""

SHOWCASE = """\
id: showcase
namespace: company.analytics
description: Every kind of branch the topology draws
labels:
  team: data
inputs:
  - id: region
    type: SELECT
    values: [eu, us, apac]
    defaults: eu
tasks:
  - id: start
    type: io.kestra.plugin.core.log.Log
    message: starting in {{ inputs.region }}
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.region == 'eu' }}"
    then:
      - id: eu_only
        type: io.kestra.plugin.core.log.Log
        message: EU
    else:
      - id: elsewhere
        type: io.kestra.plugin.core.log.Log
        message: not EU
  - id: fan_out
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: left
        type: io.kestra.plugin.core.debug.Return
        format: left
      - id: right
        type: io.kestra.plugin.core.debug.Return
        format: right
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    tasks:
      - id: item
        type: io.kestra.plugin.core.log.Log
        message: item {{ taskrun.value }}
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.region }}"
    cases:
      eu:
        - id: route_eu
          type: io.kestra.plugin.core.log.Log
          message: routed eu
    defaults:
      - id: route_other
        type: io.kestra.plugin.core.log.Log
        message: routed elsewhere
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    level: ERROR
    message: it failed
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: done
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
"""

INPUTS = """\
id: every_input
namespace: company.team
description: A form with one field of each input type
inputs:
  - id: name
    type: STRING
    defaults: World
  - id: count
    type: INT
    min: 1
    max: 10
  - id: ratio
    type: FLOAT
    required: false
  - id: verbose
    type: BOOLEAN
    defaults: false
  - id: color
    type: SELECT
    values: [red, green, blue]
  - id: tags
    type: MULTISELECT
    values: [alpha, beta, gamma]
    required: false
  - id: day
    type: DATE
    required: false
  - id: config
    type: JSON
    required: false
  - id: upload
    type: FILE
    required: false
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello {{ inputs.name }} x{{ inputs.count }} in {{ inputs.color }}
"""

SLOW = """\
id: slow
namespace: company.team
description: Logs a line, sleeps, logs again; long enough to watch and to kill
inputs:
  - id: seconds
    type: INT
    defaults: 3
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: going to sleep for {{ inputs.seconds }} seconds
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: "PT{{ inputs.seconds }}S"
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: woke up
"""

FILES = """\
id: make_csv
namespace: company.team
description: Writes a CSV file, an output the UI previews
tasks:
  - id: write
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles:
      - "*.csv"
    commands:
      - printf 'city,trips\\nParis,120\\nLyon,45\\nNantes,17\\n' > trips.csv
      - echo wrote trips.csv
  - id: summary
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.write.outputFiles['trips.csv'] }}"
"""
