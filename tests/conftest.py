"""Settings for the whole test suite, so no developer has to export anything.

Qt renders offscreen (no display needed, none of the developer's windows pop up), and pyqtgraph binds
to PySide6. Both must be set before the first Qt import, which is why they live at module level here.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ["PYQTGRAPH_QT_LIB"] = "PySide6"
