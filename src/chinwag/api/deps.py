"""Dependencies: the services, the logged-in user, and the CSRF and Origin guards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from chinwag.db.models import AuthSession, User
from chinwag.errors import Forbidden
from chinwag.security import OriginPolicy
from chinwag.services import Services

SESSION_COOKIE = "chinwag_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def check_origin(request: Request) -> None:
    """Refuse state-changing requests from a foreign Origin (applied to the whole API)."""
    if request.method in SAFE_METHODS:
        return
    policy: OriginPolicy = request.app.state.origins
    if not policy.allows(request.url.scheme, request.headers):
        raise Forbidden("Requests from this Origin are not allowed.", code="origin_not_allowed")


@dataclass
class Login:
    session: AuthSession
    user: User


async def require_login(request: Request, services: ServicesDep) -> Login:
    """The session behind the cookie; on unsafe methods its CSRF header must match too."""
    session, user = await services.accounts.require_session(request.cookies.get(SESSION_COOKIE))
    if request.method not in SAFE_METHODS:
        services.accounts.check_csrf(session.id, request.headers.get(CSRF_HEADER))
    await services.accounts.seen(session)
    return Login(session=session, user=user)


LoginDep = Annotated[Login, Depends(require_login)]


async def require_user(login: LoginDep) -> User:
    return login.user


CurrentUser = Annotated[User, Depends(require_user)]
