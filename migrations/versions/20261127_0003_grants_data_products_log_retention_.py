"""Grants, data products, log retention, scheduler lease; role memberships acting for an organisation

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 07:54:40.744625
"""

from alembic import op
import sqlalchemy as sa

import app.models.base  # noqa: F401  (custom column types)


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduler_lease',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=128), nullable=False),
    sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_scheduler_lease'))
    )
    op.create_table('data_product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('registration_no', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('registered_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_data_product_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_data_product_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_product')),
    sa.UniqueConstraint('registration_no', name=op.f('uq_data_product_registration_no'))
    )
    with op.batch_alter_table('data_product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_product_org_id'), ['org_id'], unique=False)

    op.create_table('data_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('agreement_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('fee_regime', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('suspended_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoke_reason', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_data_grant_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_data_grant_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_data_grant_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_grant')),
    sa.UniqueConstraint('number', name=op.f('uq_data_grant_number'))
    )
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_grant_org_id'), ['org_id'], unique=False)

    op.create_table('log_retention',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('agreement_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('started_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retain_until', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agreement_id'], ['agreement.id'], name=op.f('fk_log_retention_agreement_id_agreement')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_log_retention_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_log_retention_org_id_organisation')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_retention'))
    )
    op.create_table('grant_item',
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('catalog_item_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['catalog_item_id'], ['catalog_item.id'], name=op.f('fk_grant_item_catalog_item_id_catalog_item')),
    sa.ForeignKeyConstraint(['grant_id'], ['data_grant.id'], name=op.f('fk_grant_item_grant_id_data_grant'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('grant_id', 'catalog_item_id', name=op.f('pk_grant_item'))
    )
    with op.batch_alter_table('catalog_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_catalog_item_updated_by_id_user_account'), 'user_account', ['updated_by_id'], ['id'])

    with op.batch_alter_table('role_membership', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_id', sa.Integer(), nullable=True))
        batch_op.drop_constraint(batch_op.f('uq_role_membership_user_id_role'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_role_membership_user_id_role_org_id'), ['user_id', 'role', 'org_id'])
        batch_op.create_foreign_key(batch_op.f('fk_role_membership_org_id_organisation'), 'organisation', ['org_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('role_membership', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_role_membership_org_id_organisation'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_role_membership_user_id_role_org_id'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_role_membership_user_id_role'), ['user_id', 'role'])
        batch_op.drop_column('org_id')

    with op.batch_alter_table('catalog_item', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_catalog_item_updated_by_id_user_account'), type_='foreignkey')
        batch_op.drop_column('updated_by_id')

    op.drop_table('grant_item')
    op.drop_table('log_retention')
    with op.batch_alter_table('data_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_grant_org_id'))

    op.drop_table('data_grant')
    with op.batch_alter_table('data_product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_product_org_id'))

    op.drop_table('data_product')
    op.drop_table('scheduler_lease')
