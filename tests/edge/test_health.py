"""How the gateway judges its own health (edge/health.py, pure): what makes `/healthz` say ok: false."""

from __future__ import annotations

from edge.health import judge


def test_a_broker_link_down_for_less_than_the_threshold_is_no_problem() -> None:
    assert judge(link_down_s=59.9, link_threshold_s=60.0, devices={}, outbox_alive=True) == ()
    assert judge(link_down_s=None, link_threshold_s=60.0, devices={}, outbox_alive=True) == ()


def test_a_broker_link_down_past_the_threshold_is_a_problem() -> None:
    [problem] = judge(link_down_s=61.0, link_threshold_s=60.0, devices={}, outbox_alive=True)
    assert "broker" in problem and "61 s" in problem


def test_every_device_of_a_kind_down_is_a_problem_and_one_of_several_is_not() -> None:
    some = {"scale-bus:bus-1": "offline", "scale-bus:bus-2": "online", "camera:cam-1": "online"}
    assert judge(link_down_s=None, link_threshold_s=60.0, devices=some, outbox_alive=True) == ()
    every = {"scale-bus:bus-1": "offline", "scale-bus:bus-2": "offline", "camera:cam-1": "online"}
    assert judge(link_down_s=None, link_threshold_s=60.0, devices=every, outbox_alive=True) == (
        "every scale bus is offline (bus-1, bus-2)",)
    cameras = {"scale-bus:bus-1": "online", "camera:cam-1": "offline"}
    assert judge(link_down_s=None, link_threshold_s=60.0, devices=cameras, outbox_alive=True) == (
        "every camera is offline (cam-1)",)


def test_a_stopped_outbox_is_a_problem() -> None:
    [problem] = judge(link_down_s=None, link_threshold_s=60.0, devices={}, outbox_alive=False)
    assert "outbox" in problem
