"""Fixtures for every catalog_ai test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _private_checkpoints(settings: Any, tmp_path: Path) -> None:
    """Each test keeps its ingestion checkpoints apart (the same PDF gives the same file name)."""
    settings.AI_CATALOG_CHECKPOINT_DIR = str(tmp_path / "catalog_checkpoints")
