"""Task family `http`: Kestra's HTTP Download and Request, on aiohttp.

Read `client.py` first (Kestra's `options`, the request both tasks build, the session
with a timeout on every phase), then `request.py` (a response kept in outputs, bounded)
and `download.py` (a response streamed into internal storage); `trigger.py` polls an
endpoint with the same request and starts a flow when its condition holds. `properties.py` renders
templated properties into typed values; the JDBC and notification tasks use it too.
"""

from tasks.http.download import Download
from tasks.http.request import Request
from tasks.http.trigger import HttpTrigger

__all__ = ["TASKS", "TRIGGERS", "Download", "HttpTrigger", "Request"]

TASKS: tuple[type, ...] = (Download, Request)
TRIGGERS: tuple[type, ...] = (HttpTrigger,)
