"""The composition root: the only place where concrete adapters are chosen and wired.

``build_container(settings)`` picks the storage container named by ``CHAT_STORAGE``
(``storage.py``) and the coordination container (``coordination.py``: one node, or several
through ``CHAT_REDIS_URL``); the rest of the graph depends on their providers only, so a
backend is swapped by configuration alone.
Nothing here has side effects at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from dependency_injector import containers, providers

from chat_server.adapters.media.pillow import open_pillow_processor
from chat_server.adapters.system import ObjectIdGenerator, SystemClock
from chat_server.adapters.system.media_signing import HmacMediaSigner
from chat_server.adapters.webhooks.http import AiohttpWebhookSender, webhook_sender
from chat_server.application.bus import EventPublisher
from chat_server.application.outbox import Outbox
from chat_server.application.ports import HealthProbe
from chat_server.application.uploads import (
    DeleteAttachmentsHandler,
    ReadAttachmentHandler,
    SweepUnattachedHandler,
    UploadAttachmentHandler,
)
from chat_server.application.use_cases import (
    ChatSessions,
    CheckOnlinePresenceHandler,
    DeleteMessageHandler,
    GetMessagesHandler,
    GetUserChatsHandler,
    JoinChatHandler,
    MarkAsReadHandler,
    PresenceTracker,
    ReadMarker,
    SendMessageHandler,
    SignalTypingHandler,
)
from chat_server.application.use_cases.backend import (
    BackendReads,
    Directory,
    OpenChatHandler,
    PostSystemMessageHandler,
)
from chat_server.application.use_cases.blocking import ReportUserHandler, SetBlockHandler
from chat_server.application.use_cases.delivery import ConfirmDeliveriesHandler
from chat_server.application.use_cases.display import TrustedDisplay
from chat_server.application.use_cases.editing import EditMessageHandler
from chat_server.application.use_cases.privacy import EraseUser, ExportUser
from chat_server.application.use_cases.unread_notices import UnreadNotices
from chat_server.application.webhooks import WebhookDispatcher
from chat_server.domain.contact_filter import ContactFilter
from chat_server.domain.model import UrlPolicy
from chat_server.entrypoints.auth import TokenVerifier
from chat_server.entrypoints.coordination import LocalCoordination, RedisCoordination
from chat_server.entrypoints.http.api.common import ApiKeys
from chat_server.entrypoints.http.api.server import ServerApi
from chat_server.entrypoints.http.media_urls import MediaUrls
from chat_server.entrypoints.observability.logs import EventLog
from chat_server.entrypoints.observability.metrics import ServiceMetrics
from chat_server.entrypoints.observability.subscriber import MetricsSubscriber
from chat_server.entrypoints.observability.timing import metered_limiter
from chat_server.entrypoints.settings import Settings
from chat_server.entrypoints.socketio.confirmations import DeliveryConfirmations
from chat_server.entrypoints.socketio.dispatch import Dispatcher, EventObserver
from chat_server.entrypoints.socketio.draining import SessionDrain
from chat_server.entrypoints.socketio.gateway import Gateway
from chat_server.entrypoints.socketio.lifecycle import Lifecycle
from chat_server.entrypoints.socketio.notifier import SocketIONotifier
from chat_server.entrypoints.socketio.presence_settling import OfflineSettler
from chat_server.entrypoints.socketio.routes import UseCases, build_routes
from chat_server.entrypoints.socketio.server import ChatSocketServer
from chat_server.entrypoints.storage import STORAGES, TIMED_STORAGES, time_storage
from chat_server.entrypoints.webhooks import UNREAD_CHECK, WebhookSubscriber, unread_check_handler


def _url_policy(settings: Settings) -> UrlPolicy:
    # Development mode serves the demo's own images over http on a loopback host.
    return UrlPolicy(settings.allowed_media_hosts, allow_http_loopback=settings.dev_mode)


async def _webhook_sender(settings: Settings) -> AsyncIterator[AiohttpWebhookSender | None]:
    if settings.webhook_url is None:
        yield None
        return
    async for sender in webhook_sender(settings.webhook_timeout_s, settings.webhook_concurrency):
        yield sender


def _webhook_dispatcher(
    settings: Settings, outbox: Outbox, sender: AiohttpWebhookSender | None, clock: SystemClock,
    ids: ObjectIdGenerator, notices: UnreadNotices,
) -> WebhookDispatcher | None:
    if settings.webhook_url is None or settings.webhook_secret is None or sender is None:
        return None
    return WebhookDispatcher(
        outbox, sender, clock, ids, url=settings.webhook_url, secret=settings.webhook_secret,
        concurrency=settings.webhook_concurrency, poll_interval_s=settings.webhook_poll_s,
        # Well above one delivery's timeout: a lease that runs out mid-request would make
        # another node send the item too.
        lease_s=max(5.0, 6 * settings.webhook_timeout_s),
        handlers={UNREAD_CHECK: unread_check_handler(notices, clock)},
    )


def _socket_options(settings: Settings, client_manager: object) -> dict[str, object]:
    return {
        "client_manager": client_manager,
        # None: same origin only (python-engineio's default); else the listed origins or '*'.
        "cors_allowed_origins": (
            None if settings.cors_origins is None
            else "*" if settings.cors_origins == ("*",)
            else list(settings.cors_origins)
        ),
        "max_http_buffer_size": settings.max_packet_bytes,
        "transports": list(settings.transports),
        "logger": False,
        "engineio_logger": False,
        # Read by ChatEngineServer (entrypoints/socketio/engine.py).
        "transport_impl": settings.transport_impl,
        "socket_buffer_bytes": settings.socket_buffer_bytes,
        "connect_timeout": settings.connect_timeout_s,
        "max_pending_sessions": settings.max_pending_sessions,
        "ping_interval": settings.ping_interval_s,
        "ping_timeout": settings.ping_timeout_s,
    }


def _event_observers(settings: Settings, metrics: ServiceMetrics | None
                     ) -> list[EventObserver]:
    observers: list[EventObserver] = [] if metrics is None else [metrics]
    if settings.log_level == "debug":
        observers.append(EventLog())
    return observers


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    storage = providers.DependenciesContainer()
    coordination = providers.DependenciesContainer()
    # ServiceMetrics with CHAT_METRICS (the default), else None: see build_container.
    metrics: providers.Object[ServiceMetrics | None] = providers.Object(None)

    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(ObjectIdGenerator)
    presence = coordination.presence
    limiter = providers.Singleton(metered_limiter, coordination.limiter, metrics)
    drain = providers.Singleton(SessionDrain)  # SIGTERM: readiness off, sessions closed
    health = providers.Singleton(
        lambda *probes: AllReady(probes), storage.health, coordination.health, drain
    )

    sio = providers.Singleton(
        lambda options: ChatSocketServer(**options),
        providers.Callable(_socket_options, settings, coordination.client_manager),
    )
    verifier = providers.Singleton(
        TokenVerifier,
        key=settings.provided.verification_key,
        algorithms=settings.provided.jwt_algorithms,
        audience=settings.provided.jwt_audience,
        issuer=settings.provided.jwt_issuer,
    )

    # Webhooks (docs/webhooks.md): without CHAT_WEBHOOK_URL there is no dispatcher and the
    # subscriber handles nothing.
    webhook_sender = providers.Resource(_webhook_sender, settings=settings)
    unread_notices = providers.Singleton(
        UnreadNotices, chats=storage.chats, messages=storage.messages, presence=presence)
    webhook_dispatcher = providers.Singleton(
        _webhook_dispatcher, settings=settings, outbox=storage.outbox, sender=webhook_sender,
        clock=clock, ids=ids, notices=unread_notices)
    webhook_subscriber = providers.Singleton(
        WebhookSubscriber, dispatcher=webhook_dispatcher, clock=clock,
        unread_after_s=settings.provided.unread_notify_after_s)

    # What the use cases produce reaches the outside through these, in this order: what must
    # not be lost (the durable outbox) before what is live.
    socket_notifier = providers.Singleton(SocketIONotifier, sio=sio)
    subscribers = providers.List(
        webhook_subscriber, socket_notifier,
        providers.Singleton(MetricsSubscriber, metrics=metrics))
    publisher = providers.Singleton(EventPublisher, subscribers=subscribers)

    chats, messages, last_seen = storage.chats, storage.messages, storage.last_seen
    counters = storage.unread
    delete_attachments = providers.Singleton(DeleteAttachmentsHandler, store=storage.media_store,
                                             attachments=storage.attachments)
    contact_filter = providers.Singleton(
        ContactFilter, mode=settings.provided.contact_filter,
        allowed_domains=settings.provided.contact_allowed_domains)
    display = providers.Singleton(TrustedDisplay, profiles=storage.profiles,
                                  products=storage.products)
    read_marker = providers.Singleton(ReadMarker, chats=chats, messages=messages, clock=clock,
                                      counters=counters)
    get_user_chats = providers.Singleton(GetUserChatsHandler, chats=chats, messages=messages,
                                         display=display, counters=counters)
    use_cases = providers.Singleton(
        UseCases,
        send_message=providers.Singleton(
            SendMessageHandler, chats=chats, messages=messages, presence=presence,
            clock=clock, ids=ids, counters=counters, display=display, limiter=limiter,
            urls=providers.Callable(_url_policy, settings), contact_filter=contact_filter,
            attachments=storage.attachments,
        ),
        join_chat=providers.Singleton(
            JoinChatHandler, chats=chats, messages=messages, marker=read_marker, display=display
        ),
        mark_as_read=providers.Singleton(MarkAsReadHandler, chats=chats, marker=read_marker),
        delete_message=providers.Singleton(
            DeleteMessageHandler, chats=chats, messages=messages, clock=clock, counters=counters,
            delete_attachments=delete_attachments,
        ),
        signal_typing=providers.Singleton(
            SignalTypingHandler, chats=chats, throttle=coordination.typing_throttle
        ),
        get_user_chats=get_user_chats,
        get_messages=providers.Singleton(GetMessagesHandler, chats=chats, messages=messages),
        check_online_presence=providers.Singleton(
            CheckOnlinePresenceHandler, chats=chats, presence=presence, last_seen=last_seen
        ),
        presence=providers.Singleton(
            PresenceTracker, chats=chats, presence=presence, last_seen=last_seen, clock=clock
        ),
        sessions=providers.Singleton(
            ChatSessions, messages=messages, presence=presence, clock=clock,
            user_chats=get_user_chats, grace_seconds=settings.provided.presence_grace_s,
        ),
        edit_message=providers.Singleton(
            EditMessageHandler, chats=chats, messages=messages, clock=clock,
            window_s=settings.provided.edit_window_s, contact_filter=contact_filter,
        ),
        set_block=providers.Singleton(SetBlockHandler, chats=chats, display=display),
        report_user=providers.Singleton(
            ReportUserHandler, chats=chats, reports=storage.reports, limiter=limiter,
            clock=clock, ids=ids,
        ),
    )
    # Attachments (docs/attachments.md): images processed in a bounded pool of processes.
    media_processor = providers.Resource(
        open_pillow_processor, limits=settings.provided.media_limits,
        workers=settings.provided.media_workers, max_waiting=settings.provided.media_queue)
    media_signer = providers.Singleton(HmacMediaSigner, key=settings.provided.media_signing_key,
                                       ttl_s=settings.provided.media_url_ttl_s)
    media_urls = providers.Singleton(MediaUrls, signer=media_signer,
                                     base_url=settings.provided.media_base_url)
    upload_attachment = providers.Singleton(
        UploadAttachmentHandler, processor=media_processor, store=storage.media_store,
        attachments=storage.attachments, limiter=limiter, clock=clock, ids=ids,
        limits=settings.provided.media_limits)
    read_attachment = providers.Singleton(ReadAttachmentHandler, signer=media_signer,
                                          store=storage.media_store,
                                          attachments=storage.attachments)
    sweep_unattached = providers.Singleton(
        SweepUnattachedHandler, store=storage.media_store, attachments=storage.attachments,
        clock=clock, ttl_s=settings.provided.media_unattached_ttl_s)

    # The server API (SERVER_API.md): the backend's use cases, through the same publisher.
    urls = providers.Callable(_url_policy, settings)
    server_api = providers.Singleton(
        ServerApi,
        keys=providers.Singleton(ApiKeys, keys=settings.provided.api_keys),
        publisher=publisher,
        directory=providers.Singleton(
            Directory, chats=chats, profiles=storage.profiles, products=storage.products,
            display=display, clock=clock, urls=urls),
        open_chat=providers.Singleton(OpenChatHandler, chats=chats, display=display,
                                      clock=clock, ids=ids),
        post_system=providers.Singleton(
            PostSystemMessageHandler, chats=chats, messages=messages, presence=presence,
            counters=counters, clock=clock, ids=ids, urls=urls),
        send_message=use_cases.provided.send_message,
        reads=providers.Singleton(BackendReads, chats=chats, messages=messages,
                                  display=display),
        user_chats=get_user_chats,
        counters=counters,
        export=providers.Singleton(ExportUser, chats=chats, messages=messages,
                                   profiles=storage.profiles, last_seen=last_seen,
                                   display=display),
        erase=providers.Singleton(EraseUser, chats=chats, messages=messages,
                                  profiles=storage.profiles, last_seen=last_seen,
                                  counters=counters, clock=clock,
                                  delete_attachments=delete_attachments),
    )
    dispatcher = providers.Singleton(
        Dispatcher, sio=sio, routes=providers.Callable(build_routes, use_cases),
        limiter=limiter, publisher=publisher,
        request_cost_bytes=settings.provided.request_cost_bytes,
        observers=providers.Callable(_event_observers, settings, metrics),
    )
    settler = providers.Singleton(
        OfflineSettler, tracker=use_cases.provided.presence, publisher=publisher,
        delay_s=settings.provided.presence_offline_delay_s,
    )
    lifecycle = providers.Singleton(
        Lifecycle, sio=sio, verifier=verifier, use_cases=use_cases, dispatcher=dispatcher,
        publisher=publisher, limiter=limiter, presence=presence, settler=settler,
        max_sockets_per_user=settings.provided.max_sockets_per_user,
    )
    # Deliveries that this node made of messages stored elsewhere (manager.py).
    confirmations = providers.Singleton(
        DeliveryConfirmations,
        confirm=providers.Singleton(ConfirmDeliveriesHandler, messages=messages, clock=clock),
    )
    gateway = providers.Singleton(Gateway, sio=sio, lifecycle=lifecycle, drain=drain,
                                  confirmations=confirmations)


def build_container(settings: Settings) -> Container:
    try:
        storage_container = STORAGES[settings.storage]
    except KeyError:
        raise ValueError(f"no storage named {settings.storage!r}") from None
    coordination = (
        RedisCoordination(settings=settings) if settings.redis_url
        else LocalCoordination(settings=settings)
    )
    storage = storage_container(settings=settings)
    metrics = ServiceMetrics() if settings.metrics else None
    if metrics is not None and settings.storage in TIMED_STORAGES:
        time_storage(storage, metrics)
    return Container(settings=settings, storage=storage, coordination=coordination,
                     metrics=metrics)


class AllReady:
    """Ready when every backend is."""

    def __init__(self, probes: Iterable[HealthProbe]) -> None:
        self._probes = tuple(probes)

    async def ready(self) -> bool:
        for probe in self._probes:
            if not await probe.ready():
                return False
        return True
