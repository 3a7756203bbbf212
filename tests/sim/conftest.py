"""Shared fixtures of the simulator tests."""

import pytest
from fsim_helpers import CONFIG_NAMES, config_named


@pytest.fixture(params=CONFIG_NAMES)
def cfg(request):
    """Each config the functional-simulator tests run under (see fsim_helpers.CONFIG_NAMES)."""
    return config_named(request.param)
