"""The tests' paho clients close every socket when they are done, without the garbage collector.

paho keeps a socket pair (its network thread's wake-up) until the client object is freed, and a
client whose callbacks refer back to their owner is freed only by the collector, which may
finalize the sockets before the client: "ResourceWarning: unclosed socket" in whichever test the
collector next runs in, an error under `filterwarnings = error` (paho-mqtt issue #627).
tests/conftest.py collects garbage at each test's teardown, which made tests/deploy's broker
tests fail that way at random.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt_clients import release
from tests.support.services import mosquitto


def open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class Owner:
    """A client whose callback refers back to its owner: a reference cycle, as in the tests."""

    def __init__(self, port: int) -> None:
        self.messages: list[bytes] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id="owner", protocol=paho.MQTTv5)
        self.client.on_message = lambda _c, _u, m: self.messages.append(m.payload)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()


def test_a_released_client_has_closed_its_sockets_before_the_collector_runs(tmp_path: Path) -> None:
    with mosquitto(tmp_path / "mosquitto") as broker:
        gc.disable()  # nothing may be closed by a collection in between
        try:
            before = open_descriptors()
            owner = Owner(broker.port)
            assert len(open_descriptors() - before) >= 3  # the connection and paho's socket pair
            release(owner.client)
            del owner
            assert open_descriptors() - before == set()
        finally:
            gc.enable()
