"""Rooms, their history and their members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from chinwag.api.deps import CurrentUser, ServicesDep
from chinwag.schemas import (
    ConversationList,
    MemberList,
    MessagePage,
    RoomCreate,
    RoomJoin,
    RoomList,
    RoomOut,
    SearchQuery,
)
from chinwag.services.messages import DEFAULT_PAGE, MAX_PAGE

router = APIRouter(prefix="/rooms", tags=["rooms"])

MAX_SEQ = 2**53
Code = Annotated[str, Path(max_length=64, description="The room's code.")]
Before = Annotated[
    int | None, Query(ge=1, le=MAX_SEQ, description="Only messages with a smaller seq.")
]
After = Annotated[
    int | None,
    Query(ge=0, le=MAX_SEQ, description="Only messages with a larger seq, oldest first."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RoomOut)
async def create_room(body: RoomCreate, user: CurrentUser, services: ServicesDep) -> RoomOut:
    """Create a room; you become its owner. Share its code to invite people."""
    return await services.rooms.create_room(user, body.name)


@router.post("/join", response_model=RoomOut)
async def join_room(body: RoomJoin, user: CurrentUser, services: ServicesDep) -> RoomOut:
    """Become a member of the room with this code; joining twice is harmless."""
    return await services.rooms.join_room(user, body.code)


@router.get("", response_model=RoomList)
async def list_rooms(user: CurrentUser, services: ServicesDep) -> RoomList:
    return RoomList(rooms=await services.rooms.list_rooms(user))


@router.get("/{code}", response_model=RoomOut)
async def get_room(code: Code, user: CurrentUser, services: ServicesDep) -> RoomOut:
    return await services.rooms.get_room(user, code)


@router.delete("/{code}", status_code=status.HTTP_204_NO_CONTENT)
async def destroy_room(code: Code, user: CurrentUser, services: ServicesDep) -> Response:
    """Owner only: delete the room with all its messages; members get ``room:destroyed``."""
    await services.rooms.destroy_room(user, code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{code}/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave_room(code: Code, user: CurrentUser, services: ServicesDep) -> Response:
    await services.rooms.leave_room(user, code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{code}/messages", response_model=MessagePage)
async def room_messages(
    code: Code,
    user: CurrentUser,
    services: ServicesDep,
    before: Before = None,
    after: After = None,
    limit: Limit = DEFAULT_PAGE,
) -> MessagePage:
    """Public history: newest first (page back with ``before``), or oldest first after ``after``."""
    return await services.messages.history(user, code, before=before, after=after, limit=limit)


@router.get("/{code}/dms", response_model=ConversationList)
async def private_conversations(
    code: Code, user: CurrentUser, services: ServicesDep
) -> ConversationList:
    """My private conversations in this room, with each one's newest position (for unread
    counts), most recently started first."""
    return ConversationList(conversations=await services.messages.conversations(user, code))


@router.get("/{code}/dms/{username}/messages", response_model=MessagePage)
async def private_messages(
    code: Code,
    username: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    services: ServicesDep,
    before: Before = None,
    after: After = None,
    limit: Limit = DEFAULT_PAGE,
) -> MessagePage:
    """Your private conversation with ``username`` in this room, paged like room history."""
    return await services.messages.history(
        user, code, with_username=username, before=before, after=after, limit=limit
    )


@router.get("/{code}/users", response_model=MemberList)
async def room_users(
    code: Code,
    user: CurrentUser,
    services: ServicesDep,
    online: bool = False,
    q: Annotated[SearchQuery, Query()] = "",
) -> MemberList:
    """Members (``online=true``: only those connected now), filtered by a name prefix ``q``."""
    users = await services.live.list_members(user, code, online_only=online, query=q)
    return MemberList(users=users)
