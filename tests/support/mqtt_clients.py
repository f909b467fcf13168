"""Closing the tests' paho clients: every socket closed when the test is done with them.

paho keeps a socket pair (its network thread's wake-up) open until the client object is freed,
and closes nothing on disconnect() or loop_stop(). A client whose callbacks refer back to their
owner (most of the tests' observers) is freed only by the garbage collector, which may finalize
the sockets before the client: "ResourceWarning: unclosed socket" in whichever test it next runs
in, an error under `filterwarnings = error` (paho-mqtt issue #627, open). `reinitialise()` is
paho's public call that closes them.
"""

from __future__ import annotations

import paho.mqtt.client as paho


def release(client: paho.Client) -> None:
    """Disconnect, stop paho's network thread and close every socket of `client` now. The client
    is a new, unconnected one afterwards."""
    client.disconnect()
    client.loop_stop()
    client.reinitialise()
