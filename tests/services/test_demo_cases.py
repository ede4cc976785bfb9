"""`flask seed-demo --cases` (what `make run` does): the demo opens with work in the inboxes, a
decided request with its signed documents and grant, and a request part-way through the joint
meeting; seeded once, through the service layer, with an intact audit chain."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import Document, Grant, HumanTask, ProcessInstance
from app.services import audit, documents, tasks
from tests.helpers import org, user


def _instances(session):
    return session.execute(select(ProcessInstance).order_by(ProcessInstance.id)).scalars().all()


def _inbox(session, username: str) -> list[str]:
    return sorted(t.spec_id for t in tasks.inbox(session, user(session, username)).items)


def test_the_demo_cases_fill_the_inboxes_and_the_documents(runner, session):
    assert not _instances(session)
    result = runner.invoke(args=["seed-demo", "--cases"])
    assert result.exit_code == 0 and "demo cases: +4" in result.output, result.output
    session.rollback()  # see what the command committed
    decided, at_meeting, open_data, onboarding = _instances(session)

    assert (decided.process_key, decided.status, decided.outcome) == ("data_authorization", "completed", "approved")
    kinds = sorted(d.kind for d in session.execute(
        select(Document).where(Document.instance_id == decided.id)).scalars())
    assert kinds == ["compliance_report", "evaluation_opinion", "service_agreement"]
    for document in session.execute(select(Document).where(Document.instance_id == decided.id)).scalars():
        assert documents.verify_document(session, document).genuine, document.number
    [grant] = session.execute(select(Grant).where(Grant.instance_id == decided.id)).scalars().all()
    assert grant.org_id == org(session, "partner_a").id

    assert (at_meeting.status, at_meeting.org_id) == ("running", org(session, "partner_b").id)
    signed = session.execute(select(func.count()).select_from(HumanTask).where(
        HumanTask.instance_id == at_meeting.id, HumanTask.spec_id == "joint_signoff",
        HumanTask.status == "completed")).scalar_one()
    assert signed == 3
    assert _inbox(session, "authority") == []  # it has signed
    assert _inbox(session, "public_security") == ["joint_signoff"]  # it has not yet
    assert _inbox(session, "operator") == ["admit_personnel", "operator_review", "review_qualifications"]
    assert (open_data.org_id, onboarding.process_key) == (org(session, "partner_a").id, "partner_onboarding")
    assert audit.verify(session).ok


def test_the_demo_cases_are_seeded_once(runner, session):
    assert "demo cases: +4" in runner.invoke(args=["seed-demo", "--cases"]).output
    again = runner.invoke(args=["seed-demo", "--cases"])
    assert again.exit_code == 0 and "the database has cases already; none added" in again.output
    session.rollback()
    assert len(_instances(session)) == 4


def test_without_the_flag_no_case_is_started(runner, session):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0 and "demo cases" not in result.output
    assert not _instances(session)


def test_a_case_page_lists_the_documents_of_the_case(runner, app, login_as):
    # No app context stays open here: requests would share its `g`, and with it the signed-in user.
    with app.app_context():
        runner.invoke(args=["seed-demo", "--cases"])
        decided, at_meeting, open_data, _onboarding = (i.id for i in _instances(db.session))
        numbers = sorted(db.session.execute(select(Document.number).where(Document.instance_id == decided)).scalars())
    for username in ("partner_a", "operator"):
        page = login_as(username).get(f"/instances/{decided}").get_data(as_text=True)
        section = page[page.index('id="documents-h"'):page.index("</section>", page.index('id="documents-h"'))]
        assert sorted(n for n in numbers if n in section) == numbers, username
        assert section.count("/download") == 3 and "现行有效" in section and "本事项文书" in page
    page = login_as("partner_a").get(f"/instances/{open_data}").get_data(as_text=True)
    assert 'id="documents-h"' not in page  # nothing issued yet: no empty section
    assert login_as("partner_a").get(f"/instances/{at_meeting}").status_code == 404  # partner_b's case


def test_a_joint_meeting_unit_reads_the_compliance_report_of_the_request_it_reviews(runner, app, login_as):
    with app.app_context():
        runner.invoke(args=["seed-demo", "--cases"])
        at_meeting = _instances(db.session)[1]
        report = db.session.execute(select(Document).where(
            Document.instance_id == at_meeting.id, Document.kind == "compliance_report")).scalar_one()
        task_id = db.session.execute(select(HumanTask.id).where(
            HumanTask.instance_id == at_meeting.id, HumanTask.spec_id == "joint_signoff", HumanTask.status == "open",
            HumanTask.candidate_org_id == org(db.session, "public_security").id)).scalar_one()
        report_id, number = report.id, report.number
    unit = login_as("public_security")
    page = unit.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "本事项文书" in page and number in page  # linked from the task it has to decide
    pdf = unit.get(f"/documents/{report_id}/download")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    # a unit with no part in the case, and another partner, still do not see it
    for outsider in ("dept_transport", "partner_a"):
        assert login_as(outsider).get(f"/documents/{report_id}/download").status_code == 404, outsider
