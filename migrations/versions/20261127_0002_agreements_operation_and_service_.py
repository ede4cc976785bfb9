"""Agreements: operation and service agreements with their validity

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 07:27:54.732810
"""

from alembic import op
import sqlalchemy as sa

import app.models.base  # noqa: F401  (custom column types)


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('agreement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('counterparty_org_id', sa.Integer(), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('fee_terms', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['counterparty_org_id'], ['organisation.id'], name=op.f('fk_agreement_counterparty_org_id_organisation')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_agreement_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_agreement_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement')),
    sa.UniqueConstraint('number', name=op.f('uq_agreement_number'))
    )
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_agreement_org_id'), ['org_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('agreement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_agreement_org_id'))

    op.drop_table('agreement')
