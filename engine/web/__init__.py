"""The HTTP side: the REST API (Kestra's paths under /api/v1), webhooks and the web UI.

Read app.py first (the application and its middlewares), then auth.py (who may call),
http.py (errors, parameters, the two API prefixes), then one module of api/ per resource;
kestra_json.py shapes records as Kestra's JSON, openapi.py documents it all.
"""

from engine.web.app import create_app

__all__ = ["create_app"]
