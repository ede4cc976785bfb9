"""Partner onboarding (Art. 18) through the service layer: every outcome, and the refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, NotFoundError, ValidationError
from app.models import Agreement, HumanTask, ProcessInstance
from app.services import audit, processes, tasks
from tests import factories
from tests.helpers import complete, open_elements, open_task, org, user


def start(session, username="applicant", **overrides):
    instance = processes.start(session, user(session, username), "partner_onboarding",
                               factories.application(**overrides))
    session.commit()
    return instance


def test_approved_path_activates_the_partner_with_its_agreement(session):
    instance = start(session)
    assert instance.status == "running"
    assert instance.business_key.startswith("PO-")
    assert open_elements(session, instance) == {"review_qualifications", "admit_personnel"}

    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review())
    assert open_elements(session, instance) == {"record_service_agreement"}
    complete(session, "operator", "record_service_agreement", instance, factories.agreement())
    assert open_elements(session, instance) == {"file_onboarding"}
    complete(session, "authority", "file_onboarding", instance, factories.filing())

    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    applicant = org(session, "applicant")
    assert applicant.status == "active"
    assert applicant.credit_code == "91440300MA5G8XY12K"
    agreement = session.execute(select(Agreement).where(Agreement.org_id == applicant.id)).scalar_one()
    assert agreement.number == "NS-FW-2026-101" and agreement.instance_id == instance.id
    assert open_elements(session, instance) == set()
    actions = [e.action for e in processes.history(session, instance)]
    assert actions[0] == "instance.started"
    assert actions.count("task.completed") == 4
    assert "organisation.activated" in actions and actions[-1] == "instance.completed"
    assert audit.verify(session).ok


def test_rejection_returns_to_the_partner_who_resubmits_and_is_approved(session):
    instance = start(session, company_name="新锐数据（初稿）")
    complete(session, "operator", "review_qualifications", instance, factories.review("reject", "缺少等保备案证明。"))
    complete(session, "operator", "admit_personnel", instance, factories.review())
    assert open_elements(session, instance) == {"revise_application"}

    revise = open_task(session, "applicant", "revise_application", instance)
    assert revise.context["application"]["company_name"] == "新锐数据（初稿）"
    complete(session, "applicant", "revise_application", instance,
             factories.resubmit(qualifications=["data_security_policy", "mlps_level3_filing", "iso_iec_27001"]))
    assert open_elements(session, instance) == {"review_qualifications", "admit_personnel"}
    review = open_task(session, "operator", "review_qualifications", instance)
    assert "iso_iec_27001" in review.context["application"]["qualifications"]
    assert review.context["application"]["company_name"] == "深圳南山新锐数据科技有限公司"

    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review())
    complete(session, "operator", "record_service_agreement", instance, factories.agreement())
    complete(session, "authority", "file_onboarding", instance, factories.filing())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "approved")
    assert org(session, "applicant").status == "active"


def test_returned_application_withdrawn_by_the_partner(session):
    instance = start(session)
    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review("return", "请补充人员身份证明。"))
    complete(session, "applicant", "revise_application", instance, factories.withdraw())
    session.refresh(instance)
    assert (instance.status, instance.outcome) == ("completed", "withdrawn")
    assert org(session, "applicant").status == "pending"
    assert session.execute(select(func.count(Agreement.id)).where(
        Agreement.org_id == org(session, "applicant").id)).scalar_one() == 0


def test_filing_returned_to_the_operator_then_approved(session):
    instance = start(session)
    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review())
    complete(session, "operator", "record_service_agreement", instance, factories.agreement(valid_until="2031-01-01"))
    complete(session, "authority", "file_onboarding", instance, factories.filing("return"))
    assert open_elements(session, instance) == {"record_service_agreement"}
    complete(session, "operator", "record_service_agreement", instance, factories.agreement(valid_until="2029-11-19"))
    complete(session, "authority", "file_onboarding", instance, factories.filing())
    session.refresh(instance)
    assert instance.outcome == "approved"
    agreement = session.execute(select(Agreement).where(Agreement.org_id == org(session, "applicant").id)).scalar_one()
    assert agreement.valid_until.isoformat() == "2029-11-19"


def test_other_partners_see_nothing_of_the_application(session):
    instance = start(session)
    partner_b = user(session, "partner_b")
    assert processes.list_instances(session, partner_b)[1] == 0
    with pytest.raises(NotFoundError):
        processes.get_instance(session, partner_b, instance.id)
    complete(session, "operator", "review_qualifications", instance, factories.review("reject", "资质不全"))
    complete(session, "operator", "admit_personnel", instance, factories.review())
    revise = open_task(session, "applicant", "revise_application", instance)
    assert tasks.inbox(session, partner_b).total == 0
    with pytest.raises(NotFoundError):
        tasks.get_task(session, partner_b, revise.id)
    with pytest.raises(NotFoundError):
        tasks.complete(session, partner_b, revise.id, factories.withdraw())
    with pytest.raises(NotFoundError):
        tasks.claim(session, partner_b, revise.id)


def test_roles_cannot_do_each_others_steps(session):
    instance = start(session)
    review = open_task(session, "operator", "review_qualifications", instance)
    # The applicant owns the instance and the authority oversees every instance: both may
    # know the task exists, so they learn it is not theirs (403, not 404).
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "applicant"), review.id, factories.review())
    with pytest.raises(ForbiddenError):
        tasks.complete(session, user(session, "authority"), review.id, factories.review())
    session.rollback()
    assert session.get(HumanTask, review.id).status == "open"


def test_who_may_start_onboarding(session):
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "partner_a"), "partner_onboarding", factories.application())
    with pytest.raises(ForbiddenError):
        processes.start(session, user(session, "operator"), "partner_onboarding", factories.application())
    start(session)
    with pytest.raises(ForbiddenError):  # one application in progress per company
        processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())


def test_invalid_application_names_each_field_and_stores_nothing(session):
    before = session.execute(select(func.count(ProcessInstance.id))).scalar_one()
    bad = factories.application(unified_social_credit_code="123", contact_email="not-an-email",
                                personnel=[], qualifications=["unknown"], extra_field="x")
    del bad["company_name"]
    with pytest.raises(ValidationError) as caught:
        processes.start(session, user(session, "applicant"), "partner_onboarding", bad)
    session.rollback()
    fields = {e.field for e in caught.value.errors}
    assert {"company_name", "unified_social_credit_code", "contact_email", "personnel",
            "qualifications.0", "extra_field"} <= fields
    assert session.execute(select(func.count(ProcessInstance.id))).scalar_one() == before


def test_review_form_requires_decision_and_comment(session):
    instance = start(session)
    review = open_task(session, "operator", "review_qualifications", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), review.id, {"decision": "maybe"})
    session.rollback()
    assert {e.field for e in caught.value.errors} == {"decision", "comment"}
    assert session.get(HumanTask, review.id).status == "open"


def test_duplicate_agreement_number_is_refused(session):
    instance = start(session)
    complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", instance, factories.review())
    task = open_task(session, "operator", "record_service_agreement", instance)
    with pytest.raises(ValidationError) as caught:
        tasks.complete(session, user(session, "operator"), task.id, factories.agreement("NS-FW-2025-011"))
    assert [e.field for e in caught.value.errors] == ["agreement_no"]
