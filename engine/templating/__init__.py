"""Templates: Kestra-style `{{ }}` expressions rendered by Jinja2 in a sandbox.

Read it in this order:

- `renderer`    the `Renderer` everyone calls (render, render_value, evaluate, is_true);
- `output`      how values print (`to_text`: lowercase booleans, JSON lists and maps)
                and how a rendered condition reads as a boolean (`is_truthy`);
- `pebble`      Pebble syntax (`??`, `? :`, `null`, `equals`, `contains`) rewritten to Jinja;
- `environment` the one sandboxed environment: strict chainable undefined, code
                generation hooks, compiled-template cache, error translation;
- `fastparse`   Jinja's parser for text and `{{ }}` tags, transcribed over a token
                list: the same tree, several times faster; the rest is Jinja's;
- `direct`      one-line templates of text and expressions evaluated from Jinja's tree
                (closures making the generated code's calls), not compiled;
- `bounds`      per-render budgets (loop iterations, deadline, output and value sizes);
- `functions`, `dates`, `secrets`   what templates can call: render(), now(), secret(),
                Java-pattern `date`, `dateAdd`, JSON, strings, hashes; `functions`
                registers them all, with `kestra_filters` (Kestra/Pebble text and data
                filters), `execution_functions` (files, errorLogs, printContext),
                `generators` (ids, random values) and `jq` (jq in a worker process);
- `checks`, `flow_checks`  static checks at flow load: a template's syntax and names,
                then every template of a flow with its `outputs.x` against the tasks.
"""

from engine.templating.output import is_truthy, to_text
from engine.templating.renderer import Renderer
from engine.templating.secrets import SecretStore

__all__ = ["Renderer", "SecretStore", "is_truthy", "to_text"]
