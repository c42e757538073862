import pytest

from edgeface.model import DEFAULT_PACK, MANIFEST_NAME


@pytest.fixture(scope="session", autouse=True)
def _needs_default_model():
    if not (DEFAULT_PACK / MANIFEST_NAME).exists():
        pytest.skip("no default model in this build")
