"""An instance's history in order: (instance_id, seq) instead of instance_id alone

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 14:20:00.000000

The instance API answers with an instance's latest events (and the whole history in
order); with the composite index both read only the rows they return, in index order,
however long the instance has run (bench W4). Plain CREATE/DROP INDEX, never a batch
table copy: the audit table's triggers refuse updates and deletes and must stay in place.
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_audit_event_instance_id', table_name='audit_event')
    op.create_index('ix_audit_event_instance_seq', 'audit_event', ['instance_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_event_instance_seq', table_name='audit_event')
    op.create_index('ix_audit_event_instance_id', 'audit_event', ['instance_id'], unique=False)
