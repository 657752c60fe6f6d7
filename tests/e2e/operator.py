"""The operator at a terminal beside the server: ``chinwag admin …`` with the server's own env."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support import PASSWORD, ServerProcess


def chinwag_admin(
    server: ServerProcess, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "chinwag", "admin", *args],
        env={**os.environ, "CHINWAG_DATA_DIR": str(server.data_dir), **server.env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"chinwag admin {args[0]}: {result.stderr}"
    return result


def create_admin(server: ServerProcess, username: str, password: str = PASSWORD) -> None:
    chinwag_admin(server, "create-admin", username, "--password-stdin", stdin=f"{password}\n")


def reset_code(server: ServerProcess, username: str) -> str:
    """``chinwag admin reset-password USER``: the one-time code is stdout's first line."""
    out = chinwag_admin(server, "reset-password", username).stdout
    code = out.splitlines()[0].strip()
    assert code and " " not in code, out
    return code
