"""The wire contract: one pydantic model per message, shared by HTTP and Socket.IO.

Input models validate (``check_*`` helpers below); output models are built by services.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
CLIENT_ID_RE = r"^[A-Za-z0-9_.:\-]{1,64}$"
# Bidirectional overrides and isolates can disguise text; they have no place in names.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def check_text(value: str, *, max_length: int, multiline: bool) -> str:
    """NFC-normalise, trim, and refuse empty, over-long or control-laden text."""
    value = unicodedata.normalize("NFC", value).strip()
    if not value:
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    allowed = {"\n", "\t"} if multiline else set()
    for char in value:
        category = unicodedata.category(char)
        if char in allowed:
            continue
        if category in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            raise ValueError("must not contain control characters")
        if not multiline and category in ("Zl", "Zp"):
            raise ValueError("must be a single line")
    return value


def check_username(value: str) -> str:
    if not USERNAME_RE.fullmatch(value):
        raise ValueError("must be 3-32 characters: letters A-Z, digits, '_', '.' or '-'")
    return value


def _full_name(value: str) -> str:
    return check_text(value, max_length=64, multiline=False)


def _room_name(value: str) -> str:
    return check_text(value, max_length=80, multiline=False)


def _body(value: str) -> str:
    return check_text(value, max_length=MAX_BODY, multiline=True)


MAX_BODY = 4000
Strict = StringConstraints(strict=True)
Username = Annotated[str, Strict, AfterValidator(check_username)]
FullName = Annotated[str, Strict, Field(max_length=256), AfterValidator(_full_name)]
RoomName = Annotated[str, Strict, Field(max_length=512), AfterValidator(_room_name)]
Body = Annotated[str, Strict, Field(max_length=4 * MAX_BODY), AfterValidator(_body)]
Password = Annotated[str, StringConstraints(strict=True, min_length=8, max_length=1024)]
AnyPassword = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=1024)]
RoomCode = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
ClientId = Annotated[str, StringConstraints(strict=True, pattern=CLIENT_ID_RE)]
SearchQuery = Annotated[str, StringConstraints(strict=True, max_length=64)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


# ---- HTTP input -------------------------------------------------------------------------------
class SignUp(Input):
    username: Username
    full_name: FullName
    password: Password


class LogIn(Input):
    username: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    password: AnyPassword


class ProfileUpdate(Input):
    full_name: FullName | None = None


class PasswordChange(Input):
    current_password: AnyPassword
    new_password: Password


class RoomCreate(Input):
    name: RoomName


class RoomJoin(Input):
    code: RoomCode


# ---- Socket.IO input --------------------------------------------------------------------------
class RoomRef(Input):
    room: RoomCode


class SendMessage(Input):
    room: RoomCode
    body: Body
    client_id: ClientId
    to: Username | None = None


class TypingUpdate(Input):
    room: RoomCode
    to: Username | None = None
    active: StrictBool


class UserSearch(Input):
    room: RoomCode
    q: SearchQuery = ""
    online: StrictBool = True


# ---- output -----------------------------------------------------------------------------------
class UserOut(BaseModel):
    username: str
    full_name: str
    avatar_url: str | None


class SessionOut(UserOut):
    csrf_token: str


class RoomOut(BaseModel):
    code: str
    name: str
    owner: str = Field(description="The owner's username.")
    created_at: datetime


class RoomSummary(RoomOut):
    last_seq: int = Field(description="Position of the newest message in the room (0 if none).")


class RoomList(BaseModel):
    rooms: list[RoomSummary]


class MessageOut(BaseModel):
    id: int
    room: str = Field(description="The room's code.")
    seq: int = Field(description="Position in the room; only grows.")
    sender: UserOut
    to: str | None = Field(description="Recipient's username for a private message.")
    body: str
    created_at: datetime
    client_id: str


class MessagePage(BaseModel):
    messages: list[MessageOut]
    has_more: bool


class ConversationOut(BaseModel):
    user: UserOut = Field(description="The other member of the conversation.")
    last_seq: int = Field(description="Position of the conversation's newest message.")


class ConversationList(BaseModel):
    conversations: list[ConversationOut]


class MemberOut(UserOut):
    online: bool


class MemberList(BaseModel):
    users: list[MemberOut]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorDetail


# ---- server -> client events ------------------------------------------------------------------
class TypingEvent(BaseModel):
    room: str
    user: UserOut
    to: str | None
    active: bool
    expires_in: float = Field(description="Seconds after which the client may drop the state.")


class PresenceEvent(BaseModel):
    room: str
    user: UserOut
    online: bool


class RoomDestroyedEvent(BaseModel):
    room: str
    name: str


class RoomLeftEvent(BaseModel):
    room: str


class UserUpdatedEvent(BaseModel):
    user: UserOut
