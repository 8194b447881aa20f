"""Bad input and attacks: what Podium must refuse clearly, bound, or keep inside its roots.

test_orphans        scripts do not outlive an executor killed with -9
test_flow_input     malformed, hostile and huge flow YAML, and a hypothesis fuzz of the loader
test_templates      sandbox escapes (SSTI) and unbounded templates
test_paths          path traversal in storage URIs, inputFiles, outputFiles
test_ssrf           the HTTP tasks' policy on private, loopback and link-local targets
test_secrets        secrets printed by scripts in pieces, in JSON, in tracebacks
test_http           the API and webhooks: bodies, credentials, path tricks, key guessing
"""
