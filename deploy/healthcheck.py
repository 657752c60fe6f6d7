"""The container's health check: exit 0 when the node's /readyz answers 200, 1 otherwise.

    python healthcheck.py [URL]    (default http://127.0.0.1:8000/readyz)

It sends the first name of CHINWAG_ALLOWED_HOSTS as the Host header, so a node that answers
only its public names still passes its own check. The standard library only: it runs in the
image's Python without Chinwag imported.
"""

import os
import sys
import urllib.error
import urllib.request

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000/readyz"
hosts = [h.strip() for h in os.environ.get("CHINWAG_ALLOWED_HOSTS", "").split(",") if h.strip()]
headers = {"Host": hosts[0]} if hosts else {}
if not url.startswith(("http://", "https://")):
    sys.exit(f"healthcheck: {url}: not an http(s) URL")
request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) only, above
try:
    with urllib.request.urlopen(request, timeout=3) as reply:  # noqa: S310
        sys.exit(0 if reply.status == 200 else 1)
except (urllib.error.URLError, OSError) as error:
    print(f"healthcheck: {url}: {error}", file=sys.stderr)
    sys.exit(1)
