"""A covering inbox index, and an index for the tasks a user completed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 11:00:00.000000

The inbox filters open tasks on role, organisation and assignee and orders them by due
time, creation and id: with all of these in the index, the page's ids and the count are read
from the index alone (W3 in bench/). The "completed by me" tab gets an index of its own.
"""

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_inbox')
        batch_op.create_index('ix_human_task_inbox', ['status', 'role', 'candidate_org_id', 'assignee_id', 'due_at',
                                                      'created_at', 'id'], unique=False)
        batch_op.create_index('ix_human_task_completed_by', ['completed_by_id', 'completed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_completed_by')
        batch_op.drop_index('ix_human_task_inbox')
        batch_op.create_index('ix_human_task_inbox', ['status', 'role', 'candidate_org_id', 'due_at'], unique=False)
