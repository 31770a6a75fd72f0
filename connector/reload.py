"""Configuration edits take effect at the start of the next pass; a broken edit never does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from connector.config import Config, fingerprint, load_config
from connector.errors import ConfigError

log = logging.getLogger(__name__)


class ConfigWatcher:
    def __init__(
        self,
        path: Path,
        good: Config,
        load: Callable[[Path], Config] = load_config,
    ) -> None:
        self.path = path
        self.good = good
        self.good_hash = fingerprint(path)
        self.error: str | None = None
        self._load = load
        self._failed_hash: str | None = None

    def poll(self) -> bool:
        """Load the files if they changed. True when a new configuration took effect."""
        current = fingerprint(self.path)
        if current == self.good_hash:
            self.error = self._failed_hash = None  # a broken edit was undone
            return False
        if current == self._failed_hash:
            return False  # still the same broken edit: already reported
        try:
            config = self._load(self.path)
        except ConfigError as exc:
            self.error, self._failed_hash = str(exc), current
            log.error("configuration edit NOT applied, still running %s: %s", self.good_hash, exc)
            return False
        self.good, self.good_hash = config, current
        self.error = self._failed_hash = None
        log.info("configuration reloaded: now running %s", current)
        return True
