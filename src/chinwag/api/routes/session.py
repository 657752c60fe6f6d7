"""Sign-up, log-in, log-out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from chinwag.api.deps import SESSION_COOKIE, LoginDep, ServicesDep
from chinwag.db.models import User
from chinwag.schemas import LogIn, PasswordResetIn, RegistrationOut, SessionOut, SignUp
from chinwag.services import Services
from chinwag.services.accounts import session_id_of
from chinwag.services.views import user_out

router = APIRouter(tags=["session"])


def start_session(services: Services, response: Response, user: User, token: str) -> SessionOut:
    settings = services.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )
    csrf = services.accounts.csrf_token(session_id_of(token))
    return SessionOut(**user_out(user).model_dump(), csrf_token=csrf, is_admin=user.is_admin)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/registration", response_model=RegistrationOut)
async def registration(services: ServicesDep) -> RegistrationOut:
    """Who may sign up here (the web app shows an invite-code field, or no sign-up)."""
    return RegistrationOut(mode=services.settings.registration)


def user_agent(request: Request) -> str:
    return request.headers.get("user-agent", "")


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=SessionOut)
async def sign_up(
    body: SignUp, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Create an account and log in to it. With registration by invite, ``invite`` must
    be a live code (403 ``invite_required`` / ``invite_invalid``); when closed, 403
    ``registration_closed``."""
    user = await services.accounts.create_user(body, client_address(request))
    token = await services.accounts.open_session(
        user, user_agent=user_agent(request), address=client_address(request)
    )
    return start_session(services, response, user, token)


@router.post("/session", response_model=SessionOut)
async def log_in(
    body: LogIn, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Log in: sets the session cookie and answers the CSRF token for later writes."""
    user, token = await services.accounts.log_in(
        body.username, body.password, client_address(request), user_agent(request)
    )
    return start_session(services, response, user, token)


@router.get("/session", response_model=SessionOut)
async def current_session(login: LoginDep, services: ServicesDep) -> SessionOut:
    """The logged-in user and the session's CSRF token (for a page that was reloaded)."""
    csrf = services.accounts.csrf_token(login.session.id)
    return SessionOut(
        **user_out(login.user).model_dump(), csrf_token=csrf, is_admin=login.user.is_admin
    )


@router.delete("/session", status_code=status.HTTP_204_NO_CONTENT)
async def log_out(login: LoginDep, services: ServicesDep) -> Response:
    """End this session everywhere: the cookie stops working and its sockets are dropped."""
    await services.accounts.log_out(login.session)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.post("/password-reset", status_code=status.HTTP_204_NO_CONTENT)
async def reset_password(
    body: PasswordResetIn, request: Request, services: ServicesDep
) -> Response:
    """Set a new password with a one-time code from ``chinwag admin reset-password`` (then
    log in with it): ``400 reset_code_invalid`` when the code is wrong, expired or used."""
    await services.accounts.redeem_reset(body.code, body.password, client_address(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
