"""Documents: signed PDFs with versions and verification codes, and their numbering

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 08:27:58.940773
"""

from alembic import op
import sqlalchemy as sa

from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import app.models.base  # noqa: F401  (custom column types)

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('document_sequence',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_document_sequence'))
    )
    op.create_table('document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('supersedes_id', sa.Integer(), nullable=True),
    sa.Column('instance_id', sa.Integer(), nullable=True),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('verification_code', sa.String(length=16), nullable=False),
    sa.Column('template_version', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('articles', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.CheckConstraint("kind IN ('operation_agreement', 'service_agreement', 'compliance_report', 'evaluation_opinion', 'filing_certificate', 'rectification_order', 'termination_notice')", name=op.f('ck_document_kind')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_document_version')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user_account.id'], name=op.f('fk_document_created_by_id_user_account')),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], name=op.f('fk_document_instance_id_process_instance')),
    sa.ForeignKeyConstraint(['org_id'], ['organisation.id'], name=op.f('fk_document_org_id_organisation')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['document.id'], name=op.f('fk_document_supersedes_id_document')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_document')),
    sa.UniqueConstraint('number', name=op.f('uq_document_number')),
    sa.UniqueConstraint('sha256', name=op.f('uq_document_sha256')),
    sa.UniqueConstraint('supersedes_id', name=op.f('uq_document_supersedes_id')),
    sa.UniqueConstraint('verification_code', name=op.f('uq_document_verification_code'))
    )
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_document_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_document_kind_created', ['kind', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_document_org_id'), ['org_id'], unique=False)

    _document_immutable_up()


def downgrade() -> None:
    _document_immutable_down()
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_document_org_id'))
        batch_op.drop_index('ix_document_kind_created')
        batch_op.drop_index(batch_op.f('ix_document_instance_id'))

    op.drop_table('document')
    op.drop_table('document_sequence')


def _document_immutable_up() -> None:
    """Refuse UPDATE and DELETE on document: a correction is a new version, never an edit."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION document_immutable() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'document rows are immutable; issue a new version'; END $$"
        )
        op.execute(
            "CREATE TRIGGER document_immutable BEFORE UPDATE OR DELETE ON document "
            "FOR EACH ROW EXECUTE FUNCTION document_immutable()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER document_no_{verb.lower()} BEFORE {verb} ON document "
                "BEGIN SELECT RAISE(ABORT, 'document rows are immutable; issue a new version'); END"
            )


def _document_immutable_down() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS document_immutable ON document")
        op.execute("DROP FUNCTION IF EXISTS document_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS document_no_update")
        op.execute("DROP TRIGGER IF EXISTS document_no_delete")
