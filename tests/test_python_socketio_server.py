"""The chat on python-socketio (``CHINWAG_SOCKET_SERVER=python-socketio``), the Socket.IO
server Chinwag ran on before its own (``chinwag.wire``, the default): the same tests as on the
default, collected again here against a server that runs python-socketio.

Every test of the modules below is taken into this module (they define no fixtures of their
own); the ``server`` and ``short_session_server`` they ask for are the ones defined here (one
process on SQLite, on python-socketio), so each runs once more on it: the handshake and its
refusals, every event's input errors and acks, chat and private messages, and the races
between live connections and revocations (log-out, password change, leave, destroy, expiry).
``tests/test_frames.py`` runs on both servers itself; the protocol layer's own tests are
``tests/test_wire_*.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from tests import test_chat, test_live_authorization, test_socket_input
from tests.conftest import SERVER_ENV, SHORT_SESSION_SECONDS
from tests.support import ServerProcess, run_server

PSIO = {**SERVER_ENV, "CHINWAG_SOCKET_SERVER": "python-socketio"}
REUSED: tuple[ModuleType, ...] = (test_chat, test_live_authorization, test_socket_input)


def reuse(module: ModuleType) -> None:
    """Collect ``module``'s tests here, named after it: ``test_chat__<name>``."""
    for name, value in vars(module).items():
        if name.startswith("test_") and callable(value):
            globals()[f"test_{module.__name__.rsplit('.', 1)[-1][5:]}__{name[5:]}"] = value


for _module in REUSED:
    reuse(_module)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_server(tmp_path_factory.mktemp("python-socketio-server"), dict(PSIO)) as proc:
        yield proc


@pytest.fixture(scope="module")
def short_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {**PSIO, "CHINWAG_SESSION_TTL_SECONDS": str(SHORT_SESSION_SECONDS)}
    with run_server(tmp_path_factory.mktemp("python-socketio-short-session"), env) as proc:
        yield proc
