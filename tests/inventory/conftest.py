import pytest

from vigil.inventory.model import OSInfo


@pytest.fixture
def debian12() -> OSInfo:
    return OSInfo(family="debian", id="debian", version_id="12", codename="bookworm")
