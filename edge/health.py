"""Whether a running gateway is healthy, and why not: the judgement behind /healthz and /readyz.

Pure: the broker link's down time, the devices' states and the outbox's state in; the problems out.
None means healthy (`"ok": true`). A problem is one of:

- the broker link has been down longer than `[mqtt] unhealthy_after_s` (default 60 s): the outbox
  keeps every sale, but nothing reaches the cloud (a broker that blinks is not a problem);
- every device of a kind the store has is offline — every weighing bus (none of its bins answers)
  or every camera: the shop's shelves are then unwatched (one bus of two down is an alert, not this);
- the outbox writer has stopped: no sale can be stored.

Ready (`/readyz` 200) is stricter: healthy, and the broker link up now — the same test with no grace,
like the cloud's readiness, which wants its database and its MQTT session.
RFID readers keep no connection state yet, so they are not judged here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# A device's name in the gateway's status is "<kind>:<id>" (edge/rfid/devices.py, Shelves.device_states).
KIND_NAMES: Final = {"scale-bus": "scale bus", "camera": "camera"}


def judge(*, link_down_s: float | None, link_threshold_s: float, devices: Mapping[str, str],
          outbox_alive: bool) -> tuple[str, ...]:
    """The gateway's problems, each said for a person; () when healthy.

    `link_down_s` is how long the broker link has been down (None while it is up), `devices` each
    device's state ("online" / "offline") by its status name."""
    problems = []
    if not outbox_alive:
        problems.append("the outbox has stopped: sales cannot be stored")
    if link_down_s is not None and link_down_s >= link_threshold_s:
        problems.append(f"the broker link has been down for {link_down_s:.0f} s "
                        f"(unhealthy after {link_threshold_s:g} s)")
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for name, state in devices.items():
        kind, _, ident = name.partition(":")
        by_kind.setdefault(kind, []).append((ident, state))
    for kind, members in sorted(by_kind.items()):
        if all(state != "online" for _, state in members):
            names = ", ".join(sorted(ident for ident, _ in members))
            problems.append(f"every {KIND_NAMES.get(kind, kind)} is offline ({names})")
    return tuple(problems)
