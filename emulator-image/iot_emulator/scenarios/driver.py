"""The scenario runner on a live engine: applies its actions, keeps one timer, reports what happened.

The runner (`scenarios.runner`) decides; this adapter does: a power action becomes an engine
`power_off`/`power_on` (with the firmware's profile or the random MAC in the device's new
configuration), a compromise step a service from `compromise.build_service` added to the device,
and every start and end a `scenario` message plus its `log` line, on the engine's event stream.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

from iot_emulator.config import manifests
from iot_emulator.devices import host, macs
from iot_emulator.engine import engine
from iot_emulator.profiles import catalog
from iot_emulator.protocols import services
from iot_emulator.reporting import messages
from iot_emulator.scenarios import compromise, firmware, model, runner


class Driver:
    """See the module docstring; `engine.Extension`: started with the engine, stopped before its releases."""

    def __init__(self, eng: engine.Engine, library: catalog.Library) -> None:
        self.engine = eng
        self.library = library
        self.runner = runner.Runner()
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = False
        self._finite: dict[tuple[str, str], host.Service] = {}
        """The running compromise services that end by themselves: each says so through its context's `done`."""
        eng.extensions.append(self)  # (added to a running engine, it starts nothing itself: its owner calls `run`)

    # -- engine.Extension -----------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        self.begin(dev.config for dev in self.engine.devices)

    def stop(self, now: float) -> None:
        for device_id in list(self.runner.running()):
            self._apply(self.runner.stop(device_id, now))
        if self._timer is not None:
            self._timer.cancel()
        self._stopped = True

    # -- what the control API and the engine's owner call --------------------------------------

    def begin(self, configs: Iterable[manifests.DeviceConfig]) -> None:
        """Start the scenario each of these devices carries (from its manifest or `--scenario`)."""
        for config in configs:
            if config.scenario is not None:
                self.run(config.device_id, config.scenario)

    def run(self, device_id: str, scenario: model.Scenario) -> None:
        """Run `scenario` on the device from now (replacing the one it runs)."""
        self._apply(self.runner.start(device_id, scenario, self._now()))
        self._rearm()

    def cancel(self, device_id: str) -> bool:
        """Stop the device's scenario; False if it runs none."""
        if device_id not in self.runner.running():
            return False
        self._apply(self.runner.stop(device_id, self._now()))
        self._rearm()
        return True

    def forget(self, device_id: str) -> None:
        self.runner.forget(device_id)

    # -- applying -------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self._timer = None
        self._apply(self.runner.on_timer(self._now()))
        self._rearm()

    def _service_done(self, device_id: str, key: str, service: host.Service) -> None:
        if self._stopped or self._finite.get((device_id, key)) is not service:  # removed, or built again since
            return
        del self._finite[device_id, key]
        self._apply(self.runner.service_done(device_id, key))
        self._rearm()

    def _rearm(self) -> None:
        loop = self.engine.loop
        if loop is None or self._stopped:
            return
        if self._timer is not None:
            self._timer.cancel()
        deadline = self.runner.next_deadline()
        self._timer = None if deadline is None else loop.call_at(deadline, self._on_timer)

    def _apply(self, actions: list[runner.Action]) -> None:
        eng = self.engine
        for action in actions:
            if isinstance(action, runner.Mark):
                self._report(action)
            elif isinstance(action, runner.Note):
                self._log(action.device_id, messages.scenario_line(action.scenario, action.behaviour, action.detail))
            elif isinstance(action, runner.PowerOff):
                eng.power_off(action.device_id, release=action.release)
            elif isinstance(action, runner.PowerOn):
                self._power_on(action)
            elif isinstance(action, runner.StartService):
                self._start_service(action)
            else:
                self._finite.pop((action.device_id, action.key), None)
                eng.remove_service(action.device_id, action.key)

    def _power_on(self, action: runner.PowerOn) -> None:
        dev = self.engine.find(action.device_id)
        if dev is None:
            return
        config = dev.config
        if action.firmware is not None:
            try:
                config = dataclasses.replace(
                    config, profile=firmware.updated(config.profile, action.firmware, self.library)
                )
            except ValueError as exc:
                self._warn(action.device_id, f"firmware_update: not applied: {exc}")
        if action.mac is not None:
            mac = action.mac
            while self.engine.mac_in_use(mac):  # 46 random bits: never in practice, but never two devices on one MAC
                raw = macs.parse(mac)
                mac = macs.format_mac(raw[:5] + bytes([(raw[5] + 1) % 256]))
            config = dataclasses.replace(config, mac=mac)
        self.engine.power_on(action.device_id, config=config, at_once=action.at_once, fresh=action.fresh)

    def _start_service(self, action: runner.StartService) -> None:
        def factory(context: services.Context) -> host.Service:
            built: list[host.Service] = []

            def done() -> None:  # called from inside the service's own step: acted on once that step is over
                loop = self.engine.loop
                if loop is not None and built:
                    loop.call_soon(self._service_done, action.device_id, action.key, built[0])

            service = compromise.build_service(action.spec, dataclasses.replace(context, done=done), action.label)
            built.append(service)
            if hasattr(service, "finished"):  # built again after a reboot: the new one is the step's
                self._finite[action.device_id, action.key] = service
            return service

        try:
            self.engine.add_service(action.device_id, action.key, factory)
        except (NotImplementedError, ValueError) as exc:
            self._warn(action.device_id, messages.scenario_line(action.label, action.spec.kind, f"cannot run: {exc}"))

    def _report(self, mark: runner.Mark) -> None:
        wall = self.engine.wall()
        self.engine.events(
            messages.scenario(mark.device_id, wall, mark.scenario, mark.step, mark.behaviour, mark.state, mark.detail)
        )
        text = f"{mark.state} (step {mark.step})" + (f": {mark.detail}" if mark.detail else "")
        self._log(mark.device_id, messages.scenario_line(mark.scenario, mark.behaviour, text), echo=True)

    def _log(self, device_id: str, line: str, *, echo: bool = False) -> None:
        """A log line; `echo_of: scenario` tells a consumer that shows the typed message it may skip this one."""
        message = messages.log(device_id, self.engine.wall(), "info", line)
        self.engine.events({**message, "echo_of": messages.SCENARIO} if echo else message)

    def _warn(self, device_id: str, text: str) -> None:
        self.engine.events(messages.error(device_id, self.engine.wall(), text, severity="warning"))

    def _now(self) -> float:
        return self.engine.clock()
