import pytest
from tests.inventory.language.golang.gobuild import Built, built_once


@pytest.fixture(scope="session")
def go_binaries(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built_once(tmp_path_factory)
