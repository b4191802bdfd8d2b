"""The FastAPI app factory. Database migrations are the CLI's job, not the app's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from safeclass.actions.live import LiveLessons
from safeclass.config import Config
from safeclass.media.ice_servers import BrowserIceServers
from safeclass.media.relay import MediaRelay
from safeclass.media.server import MediaServer
from safeclass.store.db import make_engine, make_session_factory
from safeclass.web import lesson_socket
from safeclass.web.context import WebContext
from safeclass.web.csrf import OriginCheckMiddleware, SignInFormTokens
from safeclass.web.errors import ServerErrorPageMiddleware, form_expired_page, install_error_pages
from safeclass.web.guest_reader import GuestInvitations
from safeclass.web.join_tokens import FirstThatKnows, JoinTokenReader
from safeclass.web.link_reader import DatabaseJoinLinks
from safeclass.web.pages import admin, guests, join_links, school_policy, signin, sso, typed_codes
from safeclass.web.rendering import STATIC_DIR, Renderer
from safeclass.web.security_headers import SecurityHeadersMiddleware
from safeclass.web.sso import SingleSignOn
from safeclass.web.typed_entries import TypedEntries

# Every page module's router. Tests walk these to check that each POST route demands a token.
ROUTERS = (
    signin.router,
    sso.router,
    admin.router,
    school_policy.router,
    join_links.router,
    typed_codes.router,
    guests.router,
)


log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


def create_app(
    config: Config,
    *,
    session_factory: sessionmaker[Session] | None = None,
    live: LiveLessons | None = None,
    join_tokens: JoinTokenReader | None = None,
    media_server: MediaServer | None = None,
) -> FastAPI:
    if session_factory is None:
        session_factory = make_session_factory(make_engine(config.database_url))
    if live is None:
        live = LiveLessons(
            session_factory,
            resume_key=config.secret_key(),
            ice_servers=BrowserIceServers(
                stun_urls=config.browser_stun_urls,
                turn_urls=config.browser_turn_urls,
                turn_secret=config.browser_turn_secret.encode(),
            ),
        )
    renderer = Renderer()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if media_server is not None:
            # Janus first, so that the lessons rebuilt below get their rooms back.
            await media_server.start()
            live.add_listener(media_server.on_lesson_events)
        try:
            restored = await live.restore()
            if restored:
                log.info("rebuilt %d live lesson(s) from their logs", restored)
            ticking = asyncio.create_task(_tick_forever(live))
            try:
                yield
            finally:
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking
        finally:
            if media_server is not None:
                await media_server.stop()

    app = FastAPI(
        title="SafeClass",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.safeclass = WebContext(
        config=config,
        session_factory=session_factory,
        renderer=renderer,
        sign_in_tokens=SignInFormTokens(config.secret_key()),
        live=live,
        join_tokens=join_tokens
        or FirstThatKnows(
            DatabaseJoinLinks(), TypedEntries(config.secret_key()), GuestInvitations()
        ),
        sso=SingleSignOn.from_config(config),
    )

    if media_server is not None:
        app.state.safeclass.media = MediaRelay(media_server, live)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(lesson_socket.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_error_pages(app)

    def origin_refused() -> Response:
        return form_expired_page(renderer)

    # The last added runs first: security headers wrap every response (refusals and error pages
    # included), and the Origin check happens before any handler reads a form.
    app.add_middleware(
        OriginCheckMiddleware, require_https=config.secure_cookies, refusal=origin_refused
    )
    app.add_middleware(ServerErrorPageMiddleware, renderer=renderer)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


async def _tick_forever(live: LiveLessons) -> None:
    """Time passes for live lessons (a lesson without staff ends after its grace period)."""
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            await live.tick()
        except Exception:
            log.exception("lesson tick failed")
