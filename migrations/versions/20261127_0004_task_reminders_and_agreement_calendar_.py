"""Task reminders and agreement calendar marks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 07:57:53.394068
"""

from alembic import op
import sqlalchemy as sa

import app.models.base  # noqa: F401  (custom column types)


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('renewal_window_noted_at', app.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('expiry_handled_at', app.models.base.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_at', app.models.base.UTCDateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_column('reminded_at')

    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_column('expiry_handled_at')
        batch_op.drop_column('renewal_window_noted_at')

