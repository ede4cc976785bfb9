"""The process designer's services (admins only): validate and deploy diagrams, list and
compare versions, and move running instances to another version.

Every function takes a session and the acting user, raises ForbiddenError for non-admins,
flushes and never commits; :func:`migrate_one` handles one instance so that callers can give
each instance its own transaction.
"""

from app.services.designer.access import require_admin
from app.services.designer.catalogue import Catalogue, catalogue
from app.services.designer.deployments import DeployResult, deploy, validate
from app.services.designer.diff import ElementChange, ElementRef, VersionDiff, diff, diff_sources
from app.services.designer.migrations import (
    InstancePreview,
    MigrationOutcome,
    MigrationPlan,
    TaskPreview,
    migrate_one,
    plan_migration,
    preview_migration,
)
from app.services.designer.versions import (
    ProcessVersions,
    VersionFiles,
    VersionInfo,
    version_files,
    versions,
)

__all__ = [
    "Catalogue",
    "DeployResult",
    "ElementChange",
    "ElementRef",
    "InstancePreview",
    "MigrationOutcome",
    "MigrationPlan",
    "ProcessVersions",
    "TaskPreview",
    "VersionDiff",
    "VersionFiles",
    "VersionInfo",
    "catalogue",
    "deploy",
    "diff",
    "diff_sources",
    "migrate_one",
    "plan_migration",
    "preview_migration",
    "require_admin",
    "validate",
    "version_files",
    "versions",
]
