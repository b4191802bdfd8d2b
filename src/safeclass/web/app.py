"""The FastAPI app factory. Database migrations are the CLI's job, not the app's."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from safeclass.actions.incidents import incident_store_hook
from safeclass.actions.live import LiveLessons
from safeclass.actions.practice import close_practice_rooms_after_restart, finish_practice_room
from safeclass.actions.recordings import RecordingKeeper
from safeclass.actions.retention import RetentionSchedule
from safeclass.config import Config
from safeclass.media.ice_servers import BrowserIceServers
from safeclass.media.practice_pupils import PracticeRooms
from safeclass.media.recording_files import recordings_root
from safeclass.media.relay import MediaRelay
from safeclass.media.server import MediaServer
from safeclass.store.db import make_engine, make_session_factory
from safeclass.timeutil import utc_now
from safeclass.web import lesson_socket
from safeclass.web.context import WebContext
from safeclass.web.csrf import OriginCheckMiddleware, SignInFormTokens
from safeclass.web.errors import ServerErrorPageMiddleware, form_expired_page, install_error_pages
from safeclass.web.guest_reader import GuestInvitations
from safeclass.web.join_tokens import FirstThatKnows, JoinTokenReader
from safeclass.web.link_reader import DatabaseJoinLinks
from safeclass.web.pages import (
    admin,
    attendance,
    consent,
    console,
    guests,
    incidents,
    join_links,
    lesson_check,
    lesson_view,
    practice,
    recordings,
    school_policy,
    signin,
    sso,
    typed_codes,
)
from safeclass.web.practice_reader import PracticeDoor
from safeclass.web.rendering import STATIC_DIR, Renderer
from safeclass.web.security_headers import SecurityHeadersMiddleware
from safeclass.web.sso import SingleSignOn
from safeclass.web.typed_entries import TypedEntries
from safeclass.web.vendor import mount_vendor_files
from safeclass.webhooks import IncidentWebhook, WebhookSettings

# Every page module's router. Tests walk these to check that each POST route demands a token.
ROUTERS = (
    signin.router,
    sso.router,
    admin.router,
    school_policy.router,
    join_links.router,
    typed_codes.router,
    guests.router,
    consent.router,
    incidents.router,
    attendance.router,
    console.router,
    lesson_check.router,
    lesson_view.router,
    practice.router,
    recordings.router,
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
    incident_webhook: IncidentWebhook | None = None,
    practice_rooms: PracticeRooms | None = None,
    retention_every: float | None = None,
) -> FastAPI:
    """`retention_every`: run retention (`actions.retention`) at start-up and then every so many
    seconds. `serve` sets it; apps built in tests have no such job unless they ask."""
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
    # Recordings (`actions.recordings`): a row stored with each start and stop, the file made
    # after each stop, in the folder Janus records into; retention deletes both.
    recording_keeper = RecordingKeeper(
        session_factory,
        media_server.recordings if media_server is not None else recordings_root(config.data_dir),
        utc_now,
    )
    live.add_store_hook(recording_keeper.store_hook)
    retention = (
        RetentionSchedule(
            session_factory,
            every=retention_every,
            now=utc_now,
            recordings_root=recording_keeper.root,
        )
        if retention_every is not None
        else None
    )
    # Practice rooms' simulated pupils (`media.practice_pupils`); without a media server they
    # still knock, chat and raise hands, without sound or pictures.
    if practice_rooms is None:
        practice_rooms = PracticeRooms(
            live,
            media=media_server is not None,
            on_over=functools.partial(finish_practice_room, session_factory, live),
        )
    live.add_listener(practice_rooms.on_lesson_events)
    if incident_webhook is None:
        webhook_settings = WebhookSettings.from_env()
        if webhook_settings is not None:
            incident_webhook = IncidentWebhook(session_factory, webhook_settings)
    # Incidents are opened in the transaction that stores a removal or a chat-check hit.
    live.add_store_hook(
        incident_store_hook(incident_webhook.settings if incident_webhook is not None else None)
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if media_server is not None:
            # Janus first, so that the lessons rebuilt below get their rooms back.
            await media_server.start()
            live.add_listener(media_server.on_lesson_events)
        # After the media server's listener: a recording's file is made once Janus has closed it.
        live.add_listener(recording_keeper.on_lesson_events)
        try:
            restored = await live.restore()
            if restored:
                log.info("rebuilt %d live lesson(s) from their logs", restored)
            # After the lessons are rebuilt (which stops their recordings): what is left over was
            # cut short when the server stopped.
            recovered = await recording_keeper.recover()
            if recovered:
                log.info("preparing %d recording(s) left over from before", recovered)
            # The simulated pupils of practice rooms were in the process that stopped.
            await close_practice_rooms_after_restart(session_factory, live)
            ticking = asyncio.create_task(_tick_forever(live))
            # Retention runs in a worker thread; its problems are logged, never raised here.
            retaining = asyncio.create_task(retention.run_forever()) if retention else None
            if incident_webhook is not None:
                incident_webhook.start()
            try:
                yield
            finally:
                await practice_rooms.stop_all()
                if incident_webhook is not None:
                    await incident_webhook.stop()
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking
                if retaining is not None:
                    retaining.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await retaining
                await recording_keeper.close()
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
    app.state.incident_webhook = incident_webhook
    app.state.retention = retention
    app.state.recordings = recording_keeper
    app.state.safeclass = WebContext(
        config=config,
        session_factory=session_factory,
        renderer=renderer,
        sign_in_tokens=SignInFormTokens(config.secret_key()),
        live=live,
        # Practice lessons open to simulated pupils only, every other lesson to the real readers
        # only (`web.practice_reader`), whichever readers the app is given.
        join_tokens=PracticeDoor(
            join_tokens
            or FirstThatKnows(
                DatabaseJoinLinks(), TypedEntries(config.secret_key()), GuestInvitations()
            )
        ),
        sso=SingleSignOn.from_config(config),
        practice=practice_rooms,
    )

    if media_server is not None:
        app.state.safeclass.media = MediaRelay(media_server, live)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for router in ROUTERS:
        app.include_router(router)
    app.include_router(lesson_socket.router)
    mount_vendor_files(app)  # npm's files under /static/vendor/, before /static takes the rest
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
