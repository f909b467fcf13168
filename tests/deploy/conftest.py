"""Fixtures for the deploy tests: one PKI and one real Mosquitto per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from .broker import MOSQUITTO, Broker, Pki, make_pki, running_broker


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    for tool in ("openssl", "mosquitto_passwd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install openssl mosquitto)")
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    if shutil.which(MOSQUITTO) is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    with running_broker(pki, tmp_path_factory.mktemp("broker")) as running:
        yield running
