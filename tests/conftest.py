import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the real `podwright` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-c", "from podwright.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def cli():
    return run_cli
