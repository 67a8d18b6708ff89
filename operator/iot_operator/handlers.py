"""The kopf handlers: thin wiring from kopf's events to `reconcile`, one registry per operator run.

- an index of our emulator pods by owner, fed by kopf's watch of pods (server-side label selector),
  so a pass reads its pods from memory;
- an index of the MACs each IoTDevice / IoTFleet runs with, by namespace (`mac_claims`), so a pass can
  refuse to run a resource whose MAC an older one already runs with;
- one daemon per IoTDevice / IoTFleet, looping `reconcile.reconcile` every `resync_interval`, or at
  once when woken: by a change of the resource's spec, or by any event of one of its pods;
- login (in-cluster, kubeconfig, or a given URL), which also hands the connection to `kube.Api`.

kopf keeps its progress and diff-base in annotations (`iotemu.io/...`), not in `status`, which the
structural schema would prune. Built with `build(settings)` rather than module-level decorators, so
tests run a fresh operator per test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import aiohttp
import kopf

from iot_emulator.config import models
from iot_emulator.devices import mac_claims
from iot_emulator.profiles import catalog
from iot_kube import connection
from iot_operator import kube, observed, pods, reconcile, scrape
from iot_operator import plan as plan_mod
from iot_operator import settings as settings_mod

Key = tuple[str, str, str]
PREFIX = "iotemu.io"
_ours = {pods.MANAGED_BY: pods.MANAGER}


@dataclasses.dataclass
class Runtime:
    """What the handlers of one operator run share."""

    settings: settings_mod.OperatorSettings
    credentials: kube.Credentials
    context: reconcile.Context
    states: dict[Key, reconcile.ResourceState] = dataclasses.field(default_factory=dict)

    def state(self, key: Key) -> reconcile.ResourceState:
        if key not in self.states:
            backoff = plan_mod.Backoff(self.settings.backoff_base, self.settings.backoff_max)
            self.states[key] = reconcile.ResourceState(backoff)
        return self.states[key]

    def wake(self, key: Key) -> None:
        self.state(key).wake.set()


def runtime(settings: settings_mod.OperatorSettings) -> Runtime:
    credentials = kube.Credentials()
    context = reconcile.Context(
        settings=settings,
        api=kube.Api(credentials),
        scraper=scrape.Scraper(settings),
        library=catalog.library(settings.profiles_dir),
    )
    return Runtime(settings, credentials, context)


def build(rt: Runtime) -> kopf.OperatorRegistry:
    """A registry with every handler of the operator, bound to `rt`."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(id="configure", registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=PREFIX)
        settings.persistence.finalizer = f"{PREFIX}/finalizer"
        settings.queueing.worker_limit = rt.settings.worker_limit
        settings.watching.label_selectors["v1", "pods"] = f"{pods.MANAGED_BY}={pods.MANAGER}"
        settings.scanning.disabled = True  # no CRD or namespace watching: less RBAC (the chart installs CRDs first)
        settings.posting.level = logging.WARNING  # handler logs are not events; ours are posted explicitly

    @kopf.on.login(id="login", registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        """The official client's reading of the kubeconfig or service account, for kopf and `kube.Api`."""
        s = rt.settings
        conn = await connection.load(
            api_url=s.api_server, insecure=s.api_insecure, kubeconfig=s.kubeconfig, context=s.context
        )
        rt.credentials.connection = conn
        return kopf.ConnectionInfo(
            server=conn.server,
            ca_data=conn.ca_data,
            insecure=conn.insecure,
            token=conn.token,
            certificate_data=conn.cert_data,
            private_key_data=conn.key_data,
            default_namespace=conn.namespace,
            proxy_url=conn.proxy,
            expiration=conn.expires,
        )

    @kopf.on.cleanup(id="close", registry=registry)
    async def close(**_: Any) -> None:
        await rt.context.api.close()
        await rt.context.scraper.close()

    @kopf.index("v1", "pods", labels=_ours, id="emulator_pods", registry=registry)
    def emulator_pods(body: kopf.Body, **_: Any) -> dict[Key, observed.PodView] | None:
        view = observed.PodView.from_body(body)
        return {view.key: view} if view else None

    @kopf.on.event("v1", "pods", labels=_ours, id="pod_changed", registry=registry)
    def pod_changed(body: kopf.Body, **_: Any) -> None:
        view = observed.PodView.from_body(body)
        if view is not None:
            rt.wake(view.key)

    for plural in models.PLURALS.values():
        kopf.index(models.GROUP, models.VERSION, plural, id=f"claims_{plural}", registry=registry)(
            _bind(claim_macs, rt)
        )
        kopf.daemon(models.GROUP, models.VERSION, plural, cancellation_timeout=5.0, registry=registry)(
            _bind(run_resource, rt)
        )
        kopf.on.update(models.GROUP, models.VERSION, plural, field="spec", registry=registry)(_bind(spec_changed, rt))
    return registry


def _bind(fn: Any, rt: Runtime) -> Any:
    """The handler with the runtime bound, under its own name (kopf derives handler ids from it)."""

    async def handler(**kwargs: Any) -> Any:
        return await fn(rt, **kwargs)

    handler.__name__ = handler.__qualname__ = fn.__name__
    return handler


async def spec_changed(rt: Runtime, body: kopf.Body, **_: Any) -> None:
    """The spec changed: run the resource's pass now."""
    rt.wake((body.metadata.namespace or "", str(body["kind"]), body.metadata.name or ""))


async def claim_macs(rt: Runtime, body: kopf.Body, **_: Any) -> dict[str, mac_claims.Claim] | None:
    """The resource's MACs (as its pods derive them alone) and age, indexed by namespace."""
    claim = rt.context.claim(body)
    return {body.metadata.namespace or "": claim} if claim else None


async def run_resource(
    rt: Runtime,
    body: kopf.Body,
    stopped: kopf.DaemonStopped,
    emulator_pods: kopf.Index[Key, observed.PodView],
    claims_iotdevices: kopf.Index[str, mac_claims.Claim],
    claims_iotfleets: kopf.Index[str, mac_claims.Claim],
    logger: kopf.Logger,
    **_: Any,
) -> None:
    """The resource's life in the operator: a pass, a pause, until the resource is deleted."""
    meta = body.metadata
    owner = pods.Owner(str(body["kind"]), meta.name or "", meta.namespace or "", meta.uid or "")
    state = rt.state(owner.key)

    def post(type_: str, reason: str, message: str) -> None:
        kopf.event(body, type=type_, reason=reason, message=message)

    try:
        while not stopped:
            state.wake.clear()
            sooner: float | None = None
            try:  # `body` is live: kopf updates it as the resource changes
                neighbours = [*claims_iotdevices.get(owner.namespace, []), *claims_iotfleets.get(owner.namespace, [])]
                sooner = await reconcile.reconcile(
                    rt.context, owner, body, list(emulator_pods.get(owner.key, [])), state, post, neighbours
                )
            except (kube.ApiError, aiohttp.ClientError, TimeoutError) as exc:
                logger.warning(f"pass failed, retrying in {rt.settings.resync_interval} s: {exc}")
            pause = rt.settings.resync_interval if sooner is None else min(sooner, rt.settings.resync_interval)
            await _pause(state.wake, stopped, pause)
    finally:
        if stopped.reason and stopped.reason & kopf.DaemonStoppingReason.RESOURCE_DELETED:
            rt.states.pop(owner.key, None)


async def _pause(wake: asyncio.Event, stopped: kopf.DaemonStopped, seconds: float) -> None:
    """Sleeps up to `seconds`, less when woken or stopped."""

    async def until_stopped() -> None:
        await stopped.wait()

    tasks = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(until_stopped())}
    try:
        await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
