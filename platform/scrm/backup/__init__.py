"""Backups: ``scrm backup FILE`` writes every table as stored, with row checksums;
``scrm restore FILE`` rebuilds the installation from one, exactly or not at all."""

from .archive import BackupError, Manifest
from .dump import BackupSummary, make_backup
from .load import RestoreSummary, restore_backup

__all__ = ["BackupError", "BackupSummary", "Manifest", "RestoreSummary", "make_backup", "restore_backup"]
