"""A gate controller for MQTT tests: a persistent-session subscriber the broker queues for."""

from __future__ import annotations

import time

from scripts.rig.broker import Mosquitto, Subscriber


def controller(broker: Mosquitto, site: str) -> Subscriber:
    """A gate controller with a persistent session: the broker queues for it while it is away."""
    sub = Subscriber(broker.port, (f"gatecam/{site}/+/passage", f"gatecam/{site}/+/gate"),
                     client_id=f"ctl-{site}", clean_session=False)
    if not sub.wait_connected(5):
        raise RuntimeError("the controller did not connect")
    time.sleep(0.3)  # the broker saves the new session (autosave_on_changes)
    return sub
