"""`make demo` publishes, serves, opens an encrypted session and searches, then stops."""

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"


def test_demo_runs_an_encrypted_session_and_a_search_end_to_end() -> None:
    done = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("published 12 encrypted vectors at home/vector-databases/")
    assert lines[1].startswith("encrypted session acknowledged for 0x")
    assert lines[2].startswith("loaded 12 vectors in ")
    assert lines[3].split()[1] == "s5-chunks"  # the nearest sample to the demo query
    assert lines[-1] == "demo finished; server stopped"
