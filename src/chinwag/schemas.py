"""The wire contract: one pydantic model per message, shared by HTTP and Socket.IO.

Input models validate (``check_*`` helpers below); output models are built by services.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Literal

import idna
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

USERNAME_RE = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
CLIENT_ID_RE = r"^[A-Za-z0-9_.:\-]{1,64}$"
# Bidirectional overrides and isolates can disguise text; they have no place in names.
_BIDI_CONTROLS = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}
ZWNJ, ZWJ = "\u200c", "\u200d"
# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): code points a renderer
# shows as nothing. Among them: the zero-width characters, variation selectors, tags and the
# Hangul fillers, which are letters (Lo) that draw as blank space.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
BRAILLE_BLANK = "\u2800"  # a symbol, but drawn as an empty cell
_EMOJI_MODIFIERS = {"\ufe0e", "\ufe0f", *map(chr, range(0x1F3FB, 0x1F400))}
# A subdivision flag (England, Scotland, Wales): black flag, tag letters/digits, cancel tag.
_EMOJI_TAG_SEQUENCE = re.compile(
    "\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{2,7}\U000e007f"
)


def is_default_ignorable(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


def check_text(value: str, *, max_length: int, multiline: bool) -> str:
    """NFC-normalise, trim, and refuse empty, over-long or control-laden text; names (one
    line) must also be visible: see ``check_visible_name``."""
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
    if not multiline:
        check_visible_name(value)
    return value


def _emoji_before(value: str, pos: int) -> bool:
    """Whether an emoji (a So symbol, after any skin tone or presentation selector) ends at
    ``value[pos - 1]``."""
    pos -= 1
    while pos >= 0 and value[pos] in _EMOJI_MODIFIERS:
        pos -= 1
    return pos >= 0 and unicodedata.category(value[pos]) == "So"


def _joiner_allowed(value: str, pos: int) -> bool:
    """ZWJ between two emoji (a ZWJ sequence such as a family or a rainbow flag), or ZWJ and
    ZWNJ where RFC 5892's CONTEXTJ rules allow them: after a virama (Indic scripts), and ZWNJ
    inside a cursive-joining context (Persian, Arabic, Syriac ...)."""
    if value[pos] == ZWJ and _emoji_before(value, pos):
        if pos + 1 < len(value) and unicodedata.category(value[pos + 1]) == "So":
            return True
    try:
        return idna.valid_contextj(value, pos)
    except ValueError:  # a neighbour that is not an assigned character
        return False


def check_visible_name(value: str) -> None:
    """Refuse names that are invisible, or that hide characters: format characters (Cf, such
    as zero-width spaces and tags) except the joiners real scripts and emoji need, other
    default-ignorable code points that are not combining marks (the Hangul fillers) and the
    braille blank; a combining mark with nothing before it to combine with; and a name with
    no letter, digit, punctuation or symbol at all."""
    tags = {i for m in _EMOJI_TAG_SEQUENCE.finditer(value) for i in range(m.start() + 1, m.end())}
    visible = False
    for pos, char in enumerate(value):
        category = unicodedata.category(char)
        if category == "Cf":
            if pos in tags or (char in (ZWJ, ZWNJ) and _joiner_allowed(value, pos)):
                continue
            raise ValueError(
                f"must not contain invisible formatting characters (U+{ord(char):04X})"
            )
        if char == BRAILLE_BLANK or (is_default_ignorable(char) and category[0] != "M"):
            raise ValueError(f"must not contain invisible characters (U+{ord(char):04X})")
        if category[0] == "M" and (pos == 0 or value[pos - 1].isspace()):
            raise ValueError("must not have a combining mark with no character before it")
        visible = visible or category[0] in "LNPS"
    if not visible:
        raise ValueError("must contain a visible letter, digit, punctuation mark or symbol")


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
# Pasted codes may carry spaces; an empty one counts as none.
InviteCode = Annotated[str, StringConstraints(strict=True, strip_whitespace=True, max_length=128)]
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
    invite: InviteCode | None = Field(
        None, description="A site invite code; needed when registration is by invite."
    )


class RegistrationOut(BaseModel):
    mode: Literal["open", "invite", "closed"] = Field(
        description="Who may sign up: anyone, holders of an invite code, or nobody."
    )


class LogIn(Input):
    username: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    password: AnyPassword


class AccountDelete(Input):
    password: AnyPassword


class PasswordResetIn(Input):
    code: Annotated[str, StringConstraints(strict=True, min_length=1, max_length=64)]
    password: Password


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


class PresenceList(Input):
    room: RoomCode
    after: str | None = Field(
        default=None,
        max_length=64,
        description="The username that ended the previous page (its `next`); absent: the first.",
    )
    limit: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        strict=True,
        description="Users to answer, at most CHINWAG_PRESENCE_PAGE_SIZE (also the default).",
    )


# ---- output -----------------------------------------------------------------------------------
class UserOut(BaseModel):
    username: str
    full_name: str
    avatar_url: str | None


class SessionOut(UserOut):
    csrf_token: str
    is_admin: bool = Field(description="Whether this user is a site administrator.")


class MySessionOut(BaseModel):
    id: str = Field(description="The session's public id: names it in this API, cannot log in.")
    device: str = Field(description="The browser's User-Agent at log-in (at most 200 chars).")
    address: str = Field(description="The client address at log-in.")
    created_at: datetime
    last_seen_at: datetime | None = Field(
        description="Last request, to within CHINWAG_SESSION_SEEN_INTERVAL_SECONDS."
    )
    current: bool = Field(description="Whether this is the session making the request.")


class AdminUserOut(BaseModel):
    id: int
    username: str
    full_name: str
    avatar_url: str | None
    is_admin: bool
    disabled: bool = Field(description="Log-in refused and no session works.")
    created_at: datetime
    last_seen_at: datetime | None = Field(description="The latest request of any session.")


class AdminUserList(BaseModel):
    users: list[AdminUserOut]
    total: int = Field(description="How many accounts match, in all pages.")


class ExportedMessage(BaseModel):
    id: int
    room: str = Field(description="The room's code.")
    seq: int
    to: str | None = Field(description="Recipient's username for a private message.")
    body: str
    created_at: datetime
    client_id: str


class AccountExport(BaseModel):
    profile: UserOut
    created_at: datetime = Field(description="When the account was made.")
    messages: list[ExportedMessage] = Field(description="Every message I sent, oldest first.")


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


# ---- server -> client events: see chinwag.events -------------------------------------------
