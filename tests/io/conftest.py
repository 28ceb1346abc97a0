import os

import pytest


@pytest.fixture
def listing():
    """Sorted directory listing, to check that no temp file was left behind."""
    return lambda d: sorted(os.listdir(d))
