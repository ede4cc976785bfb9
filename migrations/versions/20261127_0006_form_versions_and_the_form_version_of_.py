"""Form versions, and the form version each task was created with

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 10:21:54.810912
"""

from alembic import op
import sqlalchemy as sa

import app.models.base  # noqa: F401  (custom column types)


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('form_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('form_key', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('schema', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('version >= 1', name=op.f('ck_form_version_version')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_form_version_created_by_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_form_version')),
    sa.UniqueConstraint('form_key', 'sha256', name=op.f('uq_form_version_form_key_sha256')),
    sa.UniqueConstraint('form_key', 'version', name=op.f('uq_form_version_form_key_version'))
    )
    # Existing tasks get NULL: they keep being shown with the current form.
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_version', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_human_task_form_key_form_version'), 'form_version',
                                    ['form_key', 'form_version'], ['form_key', 'version'])


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_human_task_form_key_form_version'), type_='foreignkey')
        batch_op.drop_column('form_version')

    op.drop_table('form_version')
