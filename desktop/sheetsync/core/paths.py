"""Where the app keeps its files: per-OS folders from platformdirs.

``SHEETSYNC_HOME`` puts everything under one folder instead (tests, portable use).
Nothing here runs at import time; callers build an ``AppPaths`` when they need one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "SheetSync"
APP_AUTHOR = "Replify"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

    @classmethod
    def default(cls, env: Mapping[str, str] | None = None) -> AppPaths:
        env = os.environ if env is None else env
        home = env.get("SHEETSYNC_HOME")
        if home:
            root = Path(home)
            return cls(root / "config", root / "data", root / "logs")
        return cls(
            Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR)),
            Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)),
            Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR)),
        )

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def journal_dir(self) -> Path:
        return self.data_dir / "journals"

    @property
    def state_dir(self) -> Path:
        return self.data_dir / "state"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "sheetsync.log"
