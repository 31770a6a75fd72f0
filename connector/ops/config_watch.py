"""Configuration edits take effect at the start of the next pass; a broken edit never does."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from connector.config import Config, fingerprint, load_config
from connector.errors import ConfigError
from connector.state import Meta, Store, utcnow

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
        self.candidate: Config | None = None  # an edit that loaded, not yet in force
        self.candidate_hash: str | None = None

    def poll(self) -> bool:
        """Load the files if they changed. True when an edit loaded: `candidate` holds it,
        to be put in force with `accept` (or refused with `reject`)."""
        current = fingerprint(self.path)
        if current == self.good_hash:
            self.error = None
            self._failed_hash = None  # a broken edit was undone
            return False
        if current == self._failed_hash:
            return False  # still the same broken edit: already reported
        try:
            config = self._load(self.path)
        except ConfigError as exc:
            self.reject(str(exc), current)
            return False
        except Exception as exc:  # whatever is on disk, the running configuration stays
            self.reject(f"{self.path}: cannot be loaded ({type(exc).__name__}: {exc})", current)
            return False
        self.candidate, self.candidate_hash = config, current
        return True

    def record(self, store: Store) -> None:
        """What `connector status` shows about the configuration in force."""
        if store.get_meta(Meta.CONFIG_HASH) != self.good_hash:
            store.set_meta(Meta.CONFIG_HASH, self.good_hash)
            store.set_meta(Meta.CONFIG_LOADED_AT, utcnow().isoformat())
        store.set_meta(Meta.CONFIG_PATH, str(self.path))
        store.set_meta(Meta.CONFIG_ERROR, self.error or "")

    def accept(self) -> Config:
        """The edit loaded and its runtime was built: it is the one in force now."""
        assert self.candidate is not None and self.candidate_hash is not None
        self.good, self.good_hash = self.candidate, self.candidate_hash
        self.candidate = None
        self.error = None
        self._failed_hash = None
        log.info("configuration reloaded: now running %s", self.good_hash)
        return self.good

    def reject(self, error: str, current: str | None = None) -> None:
        """The edit cannot be used (it does not load, or its runtime cannot be built): say so
        once, keep the last good configuration running."""
        self.candidate = None
        self.error, self._failed_hash = error, current or self.candidate_hash
        log.error("configuration edit NOT applied, still running %s: %s", self.good_hash, error)
