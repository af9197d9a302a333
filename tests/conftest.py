"""Settings for the whole test suite, so no developer has to export anything.

Qt renders offscreen (no display needed, none of the developer's windows pop up), and pyqtgraph binds
to PySide6. Both must be set before the first Qt import, which is why they live at module level here.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["PYQTGRAPH_QT_LIB"] = "PySide6"


import pytest


@pytest.fixture(autouse=True)
def private_user_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """User presets and GUI runs go to a throw-away folder, never the developer's ~/.config/sim2adapt."""
    monkeypatch.setenv("SIM2ADAPT_HOME", str(tmp_path_factory.mktemp("sim2adapt-home")))
