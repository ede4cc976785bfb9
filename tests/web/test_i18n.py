"""Every user-visible message has a Chinese translation (zh_CN is the default language)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import func, select

from app.extensions import db
from app.models import ProcessInstance
from tests.conftest import csrf_token

ROOT = Path(__file__).resolve().parents[2]


def test_every_message_is_translated_to_chinese():
    with open(ROOT / "app/web/translations/zh/LC_MESSAGES/messages.po", "rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string}
    method_map = [("app/**.py", "python"), ("app/web/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "lazy_gettext": None}
    found = {msg for _file, _line, msg, _comments, _ctx in extract_from_dir(
        str(ROOT), method_map=method_map, keywords=keywords) if isinstance(msg, str)}
    assert len(found) > 100
    missing = sorted(found - translated)
    assert not missing, f"untranslated (run scripts/i18n.sh): {missing}"


def test_english_pages_have_no_chinese_chrome(login_as):
    c = login_as("operator")

    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    page = c.get("/inbox").get_data(as_text=True)
    assert "Inbox" in page and "Waiting for me or my role" in page and "待办" not in page


def test_step_titles_follow_the_language(client, api, login_as):
    """Steps carry a Chinese and an English title (BPMN ``titleEn``); each UI shows its own."""
    request = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001"], "purpose": "public_welfare",
               "development_plan": "平台内加工，原始数据不出域。", "scope": "仅用于南山区涉企信用评估。"}
    started = client.post("/api/v1/processes/data_authorization/instances", json={"data": request},
                          headers=api("partner_a"))
    [task] = started.json["open_tasks"]
    assert (task["title_zh"], task["title_en"]) == ("授权申请审核", "Review the data request")
    c = login_as("operator")
    chinese = c.get("/inbox").get_data(as_text=True)
    assert "授权申请审核" in chinese and "Review the data request" not in chinese
    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    english = c.get("/inbox").get_data(as_text=True)
    assert "Review the data request" in english and "授权申请审核" not in english
    page = c.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "<h1>Review the data request</h1>" in page


def test_organisation_and_catalogue_names_follow_the_language(client, api, login_as):
    request = {"business_scenario": "住房租赁市场监测。", "catalog_items": ["HSG-001"], "purpose": "public_governance",
               "development_plan": "平台内按月汇总。", "scope": "仅用于住房保障规划研究。"}
    instance_id = client.post("/api/v1/processes/data_authorization/instances", json={"data": request},
                              headers=api("partner_b")).json["id"]
    c = login_as("partner_b")
    chinese = c.get(f"/instances/{instance_id}").get_data(as_text=True)
    assert "深圳湾区数联信息技术有限公司" in chinese and "商品房网签交易汇总" in chinese
    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    english = c.get(f"/instances/{instance_id}").get_data(as_text=True)
    header = english[english.index('<span class="who">'):english.index("</span>", english.index('<span class="who">'))]
    assert "Shenzhen Bay Area Shulian IT Co., Ltd." in header and "深圳湾区数联" not in header
    assert "Real-estate transaction aggregates" in english and "商品房网签交易汇总" not in english
    picker = c.get("/processes/data_authorization/start").get_data(as_text=True)
    assert "<strong>Nanshan Housing and Construction Bureau</strong>" in picker and "南山区住房和建设局" not in picker


def test_a_steps_guidance_follows_the_language(client, api, login_as):
    """Each user task's BPMN documentation is its Chinese guidance, ``documentationEn`` its English."""
    request = {"business_scenario": "企业服务地图。", "catalog_items": ["MKT-001"], "purpose": "public_welfare",
               "development_plan": "平台内加工。", "scope": "南山区园区招商服务。"}
    [task] = client.post("/api/v1/processes/data_authorization/instances", json={"data": request},
                         headers=api("partner_a")).json["open_tasks"]
    c = login_as("operator")
    chinese = c.get(f"/tasks/{task['id']}").get_data(as_text=True)
    assert "对无条件开放的公共数据授权申请，授权运营单位进行审核" in chinese
    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    english = c.get(f"/tasks/{task['id']}").get_data(as_text=True)
    guidance = english[english.index('<p class="guidance">'):english.index("</p>", english.index('<p class="guidance">'))]
    assert "For unconditionally open data the operator reviews the request" in guidance and "审核" not in guidance


def test_every_user_task_has_english_guidance():
    import re

    for path in sorted((ROOT / "workflows").glob("*.bpmn")):
        text = path.read_text()
        for task_id, body in re.findall(r'<bpmn:userTask id="([^"]+)".*?>(.*?)</bpmn:userTask>', text, re.S):
            assert "<bpmn:documentation>" in body and 'name="documentationEn"' in body, f"{path.name} {task_id}"


def test_the_systems_steps_in_a_history_follow_the_language(runner, app, login_as):
    """Service tasks carry ``titleEn`` too: "issued the compliance review report" reads in English."""
    with app.app_context():
        runner.invoke(args=["seed-demo", "--cases"])
        decided = db.session.execute(select(func.min(ProcessInstance.id))).scalar_one()
    c = login_as("partner_a")
    chinese = c.get(f"/instances/{decided}").get_data(as_text=True)
    assert "出具合规审查报告" in chinese and "Issue the compliance review report" not in chinese
    c.post("/locale", data={"locale": "en", "next": "/inbox", "csrf_token": csrf_token(c, "/inbox")})
    english = c.get(f"/instances/{decided}").get_data(as_text=True)
    history = english[english.index('<ol class="history">'):]
    assert "Issue the compliance review report" in history and "Grant the data" in history
    assert "出具合规审查报告" not in history


def test_every_service_task_has_an_english_title():
    import re

    for path in sorted((ROOT / "workflows").glob("*.bpmn")):
        for task_id, body in re.findall(r'<bpmn:serviceTask id="([^"]+)".*?>(.*?)</bpmn:serviceTask>', path.read_text(), re.S):
            assert 'name="titleEn"' in body, f"{path.name} {task_id}"
