"""Settings, read once from ``CHINWAG_*`` environment variables and passed in."""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SECRET_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "development"}
PREFIX = "CHINWAG_"
MIN_METRICS_TOKEN = 16
# CHINWAG_* names that are not settings and are let through: the service links Kubernetes
# injects for a Service named chinwag, and the web app's dev server's (frontend/vite.config.ts).
FOREIGN_NAMES = re.compile(r"CHINWAG_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\w+)?)")
# Database URLs as operators write them, and the async drivers Chinwag runs them with.
DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


REDIS_SCHEMES = {"redis", "rediss", "unix"}


class ConfigurationError(ValueError):
    """A configuration mistake found before validation; one line per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_names(environ: Mapping[str, str | None], known: set[str]) -> None:
    """Refuse ``CHINWAG_*`` names that are no setting: a typo would be silently ignored.

    ``known`` are the setting names without prefix; each unknown name is reported with the
    closest known one (``CHINWAG_ENV`` -> ``CHINWAG_ENVIRONMENT``).
    """
    valid = sorted(PREFIX + name.upper() for name in known)
    problems = []
    for raw in sorted(environ):
        name = raw.upper()
        if not name.startswith(PREFIX) or name in valid or FOREIGN_NAMES.fullmatch(name):
            continue
        # 0.7 on the full names: CHINWAG_ENV finds CHINWAG_ENVIRONMENT (0.73) while a name
        # that resembles none (CHINWAG_DEBUG, 0.67 at best) gets no misleading guess.
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.7)
        hint = f"did you mean {close[0]}?" if close else "`chinwag serve --help` lists them."
        problems.append(f"{name} is not a setting; {hint}")
    if problems:
        raise ConfigurationError(problems)


class CheckedEnvSource(EnvSettingsSource):
    """The environment, read as pydantic-settings does, once every CHINWAG_* name is known."""

    def __call__(self) -> dict[str, Any]:
        check_names(self.env_vars, set(self.settings_cls.model_fields))
        return super().__call__()


def normalize_database_url(url: str) -> str:
    """``url`` with Chinwag's async driver: ``postgres(ql)://`` and ``sqlite://`` are rewritten
    to ``postgresql+asyncpg://`` and ``sqlite+aiosqlite://``; any other driver is refused."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            "is not a database URL; use postgresql://user@host:5432/db or sqlite:///path/file.db"
        ) from None
    driver = DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"{parsed.drivername}:// is not supported; use postgresql://user@host:5432/db "
            "(run with asyncpg) or sqlite:///path/file.db (run with aiosqlite)"
        )
    return driver + url[url.index("://") :]


def parse_gc_thresholds(text: str) -> tuple[int, int, int]:
    """``"gen0,gen1,gen2"`` as three whole numbers, the first at least 1."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("give three whole numbers, gen0,gen1,gen2 (e.g. 50000,20,100)")
    gen0, gen1, gen2 = (int(p) for p in parts)
    if gen0 < 1:
        raise ValueError("gen0 must be at least 1 (0 would turn the collector off)")
    return gen0, gen1, gen2


class Settings(BaseSettings):
    """Everything Chinwag can be told from outside. See docs/configuration.md."""

    model_config = SettingsConfigDict(env_prefix="CHINWAG_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development", description="development or production (production demands a secret key)."
    )
    data_dir: Path = Field(
        Path("chinwag-data"),
        description="Folder for the SQLite database and the generated secret key.",
    )
    database_url: str | None = Field(
        None,
        description="postgresql://user@host:5432/db or sqlite:///path/file.db (run with asyncpg "
        "and aiosqlite; other drivers are refused). Default: chinwag.db in the data dir.",
    )
    redis_url: str | None = Field(
        None,
        description="redis://[:password@]host:6379/0 (or rediss://, unix://): keep live state "
        "(rate limits, log-in throttles, locks, presence, typing) in Redis, shared by every "
        "node. "
        "Default: in this process's memory (one node).",
    )
    redis_prefix: str = Field(
        "chinwag",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Starts every Redis key and channel, so clusters sharing a Redis never "
        "meet: letters, digits, _ . - (up to 64).",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs CSRF tokens. Generated and kept in <data_dir>/secret_key in "
        "development; required (32+ characters) in production.",
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated extra origins (scheme://host[:port]) trusted besides the "
        "server's own origin.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host names (without port) the server answers to; empty "
        "answers any. Set it in production: it stops DNS-rebinding pages.",
    )
    trust_proxy: bool = Field(
        False,
        description="Trust X-Forwarded-Proto/Host/For from a reverse proxy. Only behind one.",
    )
    registration: Literal["open", "invite", "closed"] = Field(
        "open",
        description="Who may sign up: open (anyone), invite (only with a site invite code "
        "that `chinwag admin invite` prints) or closed (nobody: 403 registration_closed).",
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="The address people open Chinwag at (https://chat.example.org): the "
        "links `chinwag admin reset-password` prints start with it. Default: none (only the "
        "code is printed).",
    )
    password_reset_ttl_seconds: int = Field(
        24 * 3600,
        ge=60,
        description="How long a one-time password-reset code from `chinwag admin "
        "reset-password` works.",
    )
    password_resets_per_window: int = Field(
        10,
        ge=1,
        description="Password-reset attempts (POST /api/password-reset) per client address "
        "per window; past it 429.",
    )
    password_reset_window_seconds: float = Field(
        600, gt=0, description="Window of CHINWAG_PASSWORD_RESETS_PER_WINDOW, in seconds."
    )
    metrics: Literal["off", "local", "token"] = Field(
        "local",
        description="Who may read /metrics (Prometheus text): off (nobody: 404), local (only "
        "a client on this machine's loopback, not through a proxy) or token (anyone with "
        "Authorization: Bearer <CHINWAG_METRICS_TOKEN>).",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="The bearer token /metrics wants when CHINWAG_METRICS=token (16+ "
        "characters; required then).",
    )
    node_name: str = Field(
        "",
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]*$",
        description="This node's name, sent as X-Chinwag-Node on every HTTP answer when set "
        "(to see which node behind a load balancer answered); empty sends nothing.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Least severe log lines written: debug, info, warning or error."
    )
    log_format: Literal["auto", "console", "json"] = Field(
        "auto", description="auto = console lines in development, JSON in production."
    )
    session_ttl_seconds: int = Field(14 * 24 * 3600, ge=1, description="Session lifetime.")
    session_seen_interval_seconds: int = Field(
        300, ge=1, description="A session's last-seen time is written at most this often."
    )
    max_avatar_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Avatar upload cap.")
    login_failures_per_user: int = Field(
        5, ge=1, description="Failed logins per username per window before 429."
    )
    login_failures_per_address: int = Field(
        30, ge=1, description="Failed logins per client address per window before 429."
    )
    login_window_seconds: int = Field(
        300, ge=1, description="The window both log-in failure limits count over."
    )
    messages_per_window: int = Field(30, ge=1, description="Messages a user may send per window.")
    message_window_seconds: float = Field(
        10.0, gt=0, description="The window CHINWAG_MESSAGES_PER_WINDOW counts over."
    )
    message_batch_size: int = Field(
        256,
        ge=1,
        le=10000,
        description="At most this many sends are stored in one transaction (group commit): "
        "the writer takes whatever is queued when it becomes free, never waits for more.",
    )
    typing_per_window: int = Field(
        10, ge=1, description="Typing events a user may send per window."
    )
    typing_window_seconds: float = Field(
        5.0, gt=0, description="The window CHINWAG_TYPING_PER_WINDOW counts over."
    )
    typing_ttl_seconds: float = Field(
        6.0, gt=0, description="A typing indicator expires this long after its last refresh."
    )
    retries_per_window: int = Field(
        30,
        ge=1,
        description="Retries of an already-stored client_id a user may send per window "
        "(answered from the store, counted apart from new messages).",
    )
    retry_window_seconds: float = Field(
        10.0, gt=0, description="The window CHINWAG_RETRIES_PER_WINDOW counts over."
    )
    signups_per_window: int = Field(
        20, ge=1, description="Sign-ups per client address per window before 429."
    )
    signup_window_seconds: float = Field(
        600.0, gt=0, description="The window CHINWAG_SIGNUPS_PER_WINDOW counts over."
    )
    avatar_uploads_per_window: int = Field(
        10, ge=1, description="Avatar uploads a user may make per window before 429."
    )
    avatar_upload_window_seconds: float = Field(
        300.0, gt=0, description="The window CHINWAG_AVATAR_UPLOADS_PER_WINDOW counts over."
    )
    enters_per_window: int = Field(
        30, ge=1, description="room:enter and room:exit events a user may send per window."
    )
    enter_window_seconds: float = Field(
        10.0, gt=0, description="The window CHINWAG_ENTERS_PER_WINDOW counts over."
    )
    searches_per_window: int = Field(
        30, ge=1, description="Member searches (users:search, GET .../users) per user per window."
    )
    search_window_seconds: float = Field(
        10.0, gt=0, description="The window CHINWAG_SEARCHES_PER_WINDOW counts over."
    )
    presence_interval_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Presence changes in a room are sent at most this often, as one "
        "`presence` event of who came online and who went offline since the last one "
        "(per node); going offline is announced at most this late.",
    )
    presence_page_size: int = Field(
        50,
        ge=1,
        le=1000,
        description="Online users in room:enter's ack and the most one presence:list page "
        "answers; past it, the ack carries the online count and the rest is paged.",
    )
    rooms_per_window: int = Field(
        20, ge=1, description="Rooms a user may create per window before 429."
    )
    room_window_seconds: float = Field(
        3600.0, gt=0, description="The window of CHINWAG_ROOMS_PER_WINDOW, in seconds."
    )
    lock_wait_seconds: float = Field(
        10.0,
        gt=0,
        description="How long a request waits for a lock (a log-in's per-username and "
        "per-address locks) before 503.",
    )
    lock_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="A lock is freed this long after it was taken even if its holder never "
        "let go (a node that died holding it).",
    )
    hold_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="With several nodes: a revocation held by a node that dies before saying "
        "whether it committed is settled, by asking the database, after this long (until then "
        "nothing reaches what it covers).",
    )
    socket_server: Literal["python-socketio", "own"] = Field(
        "own",
        description="The Socket.IO server underneath: Chinwag's own lean Engine.IO v4 / "
        "Socket.IO v5 layer (own: chinwag.wire; faster, less memory per connection), or "
        "python-socketio. Clients cannot tell them apart.",
    )
    websocket_compression: bool = Field(
        False,
        description="Accept permessage-deflate on websockets: less bandwidth, but each event is "
        "compressed once per recipient (off: the frame is built once for all, as socket.io's "
        "own server does by default).",
    )
    gc_freeze: bool = Field(
        True,
        description="Once started, move every object made during start-up out of the garbage "
        "collector's sight (gc.freeze), so no collection walks them again.",
    )
    gc_thresholds: str = Field(
        "50000,20,100",
        description="The garbage collector's thresholds, gen0,gen1,gen2 (gc.set_threshold): "
        "higher makes collections rarer; chinwag_gc_pause_seconds shows what they cost.",
    )
    node_heartbeat_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="With Redis: how often a node tells the others it is alive, and looks "
        "for nodes that stopped doing so.",
    )
    node_dead_seconds: float = Field(
        15.0,
        gt=0,
        le=300,
        description="With Redis: a node silent this long is dead; its users go offline for "
        "everyone at most CHINWAG_NODE_HEARTBEAT_SECONDS later (at least twice the heartbeat).",
    )
    max_avatar_pixels: int = Field(
        16_000_000,
        ge=1,
        description="Largest image (width x height, as decoded) an avatar upload may be.",
    )
    image_decode_workers: int = Field(
        2,
        ge=1,
        description="Threads that decode avatar uploads (each may hold up to ~16 bytes "
        "per pixel of max_avatar_pixels: ~250 MB at the default).",
    )
    image_decode_queue: int = Field(
        4, ge=0, description="Avatar uploads that may wait for a decode thread; more get 503."
    )
    password_hash_workers: int = Field(
        2, ge=1, description="Threads that hash passwords (argon2id, 64 MiB each)."
    )
    password_hash_queue: int = Field(
        32, ge=0, description="Password checks that may wait for a hash thread; more get 503."
    )
    max_header_bytes: int = Field(
        32 * 1024,
        ge=1024,
        description="Largest request line plus headers of an HTTP request; more get 431.",
    )
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="Time a client has to send a request's line and headers."
    )
    max_request_body_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest HTTP request body (avatar uploads aside)."
    )
    max_socket_packet_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Largest Socket.IO packet (with its binary attachments) a client may send.",
    )
    max_socket_attachments: int = Field(
        4, ge=0, description="Binary attachments one Socket.IO packet may declare."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments first, then the environment, refusing unknown CHINWAG_* names."""
        checked_env = CheckedEnvSource(settings_cls)
        return init_settings, checked_env, dotenv_settings, file_secret_settings

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        return normalize_database_url(value) if value else None

    @field_validator("gc_thresholds")
    @classmethod
    def _gc_thresholds(cls, value: str) -> str:
        return ",".join(str(n) for n in parse_gc_thresholds(value))

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in REDIS_SCHEMES:
            raise ValueError(
                "is not a Redis URL; use redis://host:6379/0, rediss://host:6380/0 (TLS) or "
                "unix:///path/redis.sock"
            )
        return value or None

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _heartbeats_fit(self) -> Settings:
        if self.node_dead_seconds < 2 * self.node_heartbeat_seconds:
            raise ValueError(
                "CHINWAG_NODE_DEAD_SECONDS must be at least twice CHINWAG_NODE_HEARTBEAT_SECONDS, "
                "or one late heartbeat takes a live node for dead"
            )
        return self

    @model_validator(mode="after")
    def _metrics_token_set(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if self.metrics == "token" and len(token) < MIN_METRICS_TOKEN:
            raise ValueError(
                f"CHINWAG_METRICS=token needs CHINWAG_METRICS_TOKEN of {MIN_METRICS_TOKEN}+ "
                "characters"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if len(key) < 32 or key.lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "CHINWAG_SECRET_KEY must be set to 32+ random characters in production"
                )
        return self

    @property
    def gc_threshold_values(self) -> tuple[int, int, int]:
        return parse_gc_thresholds(self.gc_thresholds)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'chinwag.db').resolve()}"

    @property
    def legacy_avatar_dir(self) -> Path:
        """Where versions before migration 0003 kept avatar files; it imports them once."""
        return self.data_dir / "media" / "avatars"

    @property
    def control_socket(self) -> Path:
        """Where a node without Redis hears ``chinwag admin`` (``chinwag.realtime.control``)."""
        return (self.data_dir / "control.sock").absolute()

    @property
    def json_logs(self) -> bool:
        if self.log_format == "auto":
            return self.environment == "production"
        return self.log_format == "json"

    @property
    def secure_cookies(self) -> bool:
        return self.environment == "production"

    @cached_property
    def signing_key(self) -> bytes:
        """The secret key, generated and persisted in the data dir in development."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_FILE
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            create_once(path, secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def create_once(path: Path, content: str) -> None:
    """Create ``path`` (mode 0600) holding ``content``, unless it exists by then.

    The file is written beside, then hard-linked into place, which fails if the name is
    taken: it appears whole or not at all, so processes starting together on one data dir
    all read the one file that won and never an empty or half-written one."""
    fd, spare = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(content)
        with contextlib.suppress(FileExistsError):
            os.link(spare, path)
    finally:
        os.unlink(spare)
