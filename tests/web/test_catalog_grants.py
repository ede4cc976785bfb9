"""Catalogue (edited by the authority and source departments), grants (partners see their own),
the article coverage page, the instance diagram and the npm asset route."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.models import CatalogItem, Grant
from app.services.clock import clock
from tests import factories
from tests.conftest import csrf_token
from tests.helpers import org


def _item_id(session, code):
    return session.execute(select(CatalogItem.id).where(CatalogItem.code == code)).scalar_one()


def test_catalogue_page_in_both_languages(login_as):
    c = login_as("partner_a")
    page = c.get("/catalog").get_data(as_text=True)
    assert "企业登记注册信息" in page and "有条件开放" in page and "不予开放" in page
    assert "/edit" not in page  # partners cannot edit
    c.post("/locale", data={"locale": "en", "next": "/catalog", "csrf_token": csrf_token(c, "/catalog")})
    page = c.get("/catalog").get_data(as_text=True)
    assert "Enterprise registration records" in page and "Conditionally open" in page


def test_source_department_edits_only_its_own_items(client, api, session):
    mkt = _item_id(session, "MKT-003")
    h = api("source_dept")
    r = client.patch(f"/api/v1/catalog/{mkt}", json={"grade": "L3", "classification": "conditional"}, headers=h)
    assert r.status_code == 200 and r.json["grade"] == "L3"
    # the demo source_dept user acts for every demo department
    hr = _item_id(session, "HR-001")
    assert client.patch(f"/api/v1/catalog/{hr}", json={"grade": "L3"}, headers=h).status_code == 200
    # the finance bureau's user is a joint-meeting member, not a source department
    r = client.patch(f"/api/v1/catalog/{mkt}", json={"grade": "L1"}, headers=api("finance"))
    assert r.status_code == 403
    r = client.patch(f"/api/v1/catalog/{mkt}", json={"grade": "L1"}, headers=api("partner_a"))
    assert r.status_code == 403
    r = client.patch(f"/api/v1/catalog/{mkt}", json={"code": "XX-001"}, headers=h)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "code"
    r = client.patch(f"/api/v1/catalog/{mkt}", json={"classification": "secret"}, headers=h)
    assert r.status_code == 422


def test_department_user_edits_its_department_only(client, api, session):
    h = api("dept_hrss")
    assert client.patch(f"/api/v1/catalog/{_item_id(session, 'HR-001')}", json={"grade": "L3"}, headers=h).status_code == 200
    assert client.patch(f"/api/v1/catalog/{_item_id(session, 'MKT-001')}", json={"grade": "L3"}, headers=h).status_code == 403


def test_authority_adds_an_item_through_the_page(login_as):
    c = login_as("authority")
    form = {"code": "URB-003", "name": "公共停车场名录", "name_en": "Public car parks", "classification": "unconditional",
            "grade": "L1", "source_department": "dept_urban", "description": "", "csrf_token": csrf_token(c, "/catalog/new")}
    r = c.post("/catalog/new", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[-800:]
    assert "公共停车场名录" in c.get("/catalog").get_data(as_text=True)
    form["csrf_token"] = csrf_token(c, "/catalog/new")
    r = c.post("/catalog/new", data=form)
    assert r.status_code == 422 and "该编号已被使用" in r.get_data(as_text=True)


def _grant(session, org_code):
    items = session.execute(select(CatalogItem).where(CatalogItem.code == "MKT-001")).scalars().all()
    grant = Grant(number=f"NS-SQ-T-{org_code}", org_id=org(session, org_code).id, purpose="industry_development",
                  fee_regime="paid", scope="企业画像", issued_at=clock.now(), expires_at=clock.now() + timedelta(days=30))
    grant.items = list(items)
    session.add(grant)
    session.commit()
    return grant.id


def test_partners_see_only_their_own_grants(client, api, session, login_as):
    a, b = _grant(session, "partner_a"), _grant(session, "partner_b")
    mine = client.get("/api/v1/grants", headers=api("partner_a")).json["items"]
    assert [g["number"] for g in mine] == ["NS-SQ-T-partner_a"]
    assert mine[0]["items"] == ["MKT-001"] and mine[0]["status"] == "active"
    assert client.get(f"/api/v1/grants/{b}", headers=api("partner_a")).status_code == 404
    assert client.get(f"/api/v1/grants/{a}", headers=api("partner_a")).status_code == 200
    assert len(client.get("/api/v1/grants", headers=api("authority")).json["items"]) == 2
    assert client.get("/api/v1/grants", headers=api("finance")).status_code == 403
    page = login_as("partner_b").get("/grants").get_data(as_text=True)
    assert "NS-SQ-T-partner_b" in page and "NS-SQ-T-partner_a" not in page


def test_articles_page_lists_steps_per_article(login_as):
    page = login_as("operator").get("/articles").get_data(as_text=True)
    assert "第18条 合作方入驻及退出" in page and "入驻资质审查" in page


def test_instance_diagram_and_progress(client, api, login_as):
    iid = client.post("/api/v1/processes/partner_onboarding/instances", json={"data": factories.application()},
                      headers=api("applicant")).json["id"]
    applicant = login_as("applicant")
    page = applicant.get(f"/instances/{iid}").get_data(as_text=True)
    assert 'id="diagram"' in page and "review_qualifications" in page  # waiting now
    xml = applicant.get(f"/instances/{iid}/diagram.bpmn")
    assert xml.status_code == 200 and b'id="partner_onboarding"' in xml.data
    assert login_as("partner_b").get(f"/instances/{iid}/diagram.bpmn").status_code == 404


def test_asset_route_serves_only_allowed_npm_files(client):
    assert client.get("/assets/bpmn-js/dist/bpmn-navigated-viewer.production.min.js").status_code == 200
    for path in ("/assets/bpmn-js/package.json", "/assets/../package.json", "/assets/bpmn-js/dist/assets/../../package.json",
                 "/assets/%2e%2e/%2e%2e/etc/passwd"):
        assert client.get(path).status_code == 404, path


def test_a_request_shows_each_catalogue_item_with_its_name_and_classification(client, api, login_as):
    data = {"business_scenario": "企业服务地图。", "catalog_items": ["MKT-001", "MKT-003"],
            "development_plan": "平台内加工。", "purpose": "public_welfare", "scope": "南山区园区招商服务。"}
    iid = client.post("/api/v1/processes/data_authorization/instances", json={"data": data},
                      headers=api("partner_a")).json["id"]
    c = login_as("partner_a")
    page = c.get(f"/instances/{iid}").get_data(as_text=True)
    items = page[page.index('<ul class="catalog-items">'):]
    items = items[:items.index("</ul>")]
    assert "<code>MKT-001</code> 企业登记注册信息" in items and "无条件开放 · L1" in items
    assert "<code>MKT-003</code> 企业行政处罚信息" in items and "有条件开放 · L2" in items
    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    page = c.get(f"/instances/{iid}").get_data(as_text=True)
    assert "<code>MKT-003</code> Administrative penalties on enterprises" in page and "Conditionally open · L2" in page
