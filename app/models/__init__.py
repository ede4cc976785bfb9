"""SQLAlchemy 2 typed models."""

from app.models.accounts import ApiToken, Organisation, RoleMembership, User
from app.models.agreements import Agreement
from app.models.audit import AuditEvent, AuditHead
from app.models.base import Base, utcnow
from app.models.catalog import CatalogItem
from app.models.collaboration import Comment, SavedFilter
from app.models.documents import DOCUMENT_KINDS, Document, DocumentSequence
from app.models.forms import FormVersion
from app.models.grants import DataProduct, Grant, LogRetention, SchedulerLease, grant_item
from app.models.notifications import (
    NOTIFICATION_KINDS,
    EmailOutbox,
    Notification,
    NotificationPreference,
    TaskNotice,
)
from app.models.workflow import HumanTask, ProcessDefinition, ProcessInstance

__all__ = [
    "Agreement",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Base",
    "CatalogItem",
    "Comment",
    "DOCUMENT_KINDS",
    "DataProduct",
    "Document",
    "DocumentSequence",
    "EmailOutbox",
    "FormVersion",
    "Grant",
    "LogRetention",
    "NOTIFICATION_KINDS",
    "Notification",
    "NotificationPreference",
    "SchedulerLease",
    "TaskNotice",
    "grant_item",
    "HumanTask",
    "Organisation",
    "ProcessDefinition",
    "ProcessInstance",
    "RoleMembership",
    "SavedFilter",
    "User",
    "utcnow",
]
