"""Typed settings: defaults, round trip, broken files set aside, never a secret."""

from __future__ import annotations

import json
from pathlib import Path

from sheetsync.core.engine import DEFAULT_BATCH_SIZE
from sheetsync.core.paths import AppPaths
from sheetsync.core.settings import MAX_RECENT, Settings


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings.load(path)
    assert settings.base_url == "https://api.heylibby.com/api/v1" and settings.region == "US"
    settings.remember_campaign("8f14e45f-ceea-467f-a0e6-5c4a3c1e2b7d", "Spring promo")
    settings.remember_file("/a.xlsx")
    settings.save(path)
    data = json.loads(path.read_text())
    assert data["version"] == 1
    loaded = Settings.load(path)
    assert loaded.recent_campaigns[0].label == "Spring promo"
    assert loaded.campaign_for_label("spring PROMO") == "8f14e45f-ceea-467f-a0e6-5c4a3c1e2b7d"
    assert loaded.recent_files == ["/a.xlsx"]


def test_recent_lists_are_bounded_and_deduplicated() -> None:
    settings = Settings()
    for i in range(MAX_RECENT + 5):
        settings.remember_file(f"/f{i}.xlsx")
    settings.remember_file("/f14.xlsx")
    assert len(settings.recent_files) == MAX_RECENT and settings.recent_files[0] == "/f14.xlsx"
    assert settings.recent_files.count("/f14.xlsx") == 1


def test_broken_file_is_set_aside_not_half_read(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{broken")
    assert Settings.load(path) == Settings()
    assert (tmp_path / "settings.broken.json").exists()


def test_wrong_types_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"version": 1, "batch_size": "lots", "region": "GB", "unknown": 1}))
    settings = Settings.load(path)
    assert settings.batch_size == DEFAULT_BATCH_SIZE and settings.region == "GB"


def test_app_paths_follow_sheetsync_home(app_home: Path) -> None:
    paths = AppPaths.default()
    assert paths.settings_file.is_relative_to(app_home)
    assert paths.journal_dir.is_relative_to(app_home)
