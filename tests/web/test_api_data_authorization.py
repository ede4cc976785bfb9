"""JSON API v1: data authorization requests (Art. 2, 19, 20, 23) end to end as the demo users."""

from __future__ import annotations

from typing import Any

URL = "/api/v1/processes/data_authorization/instances"
# Demo user -> the joint-meeting unit it signs for, for a request on dept_market data.
SIGNERS = {"authority": "authority", "finance": "finance", "cyberspace": "cyberspace",
           "public_security": "public_security", "secrecy": "secrecy", "source_dept": "dept_market",
           "third_party": "third_party"}


def _request(**overrides: Any) -> dict[str, Any]:
    data = {"business_scenario": "企业信用画像服务。", "catalog_items": ["MKT-001", "MKT-002"],
            "development_plan": "平台内加工，原始数据不出域。", "purpose": "public_welfare",
            "scope": "仅用于南山区涉企信用评估。"}
    data.update(overrides)
    return data


def _agreement(number: str) -> dict[str, Any]:
    return {"agreement_no": number, "signed_on": "2026-11-27", "valid_from": "2026-11-27",
            "valid_until": "2027-11-26", "service_scope": "数据资源加工使用", "fee_terms": "无偿使用。"}


def _tasks(client, headers, instance_id, element):
    r = client.get("/api/v1/tasks?per_page=100", headers=headers)
    assert r.status_code == 200
    return [t for t in r.json["items"] if t["instance_id"] == instance_id and t["element"] == element]


def _complete(client, headers, instance_id, element, data):
    found = _tasks(client, headers, instance_id, element)
    assert len(found) == 1, found
    r = client.post(f"/api/v1/tasks/{found[0]['id']}/complete", json={"data": data}, headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def _start(client, headers, **overrides):
    r = client.post(URL, json={"data": _request(**overrides)}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def test_not_open_item_is_refused_with_422_naming_it(client, api):
    partner = api("partner_a")
    before = client.get("/api/v1/instances?process=data_authorization", headers=partner).json["total"]
    r = client.post(URL, json={"data": _request(catalog_items=["MKT-001", "HSG-003"])}, headers=partner)
    assert r.status_code == 422
    assert r.json["error"] == "validation_failed"
    [error] = r.json["errors"]
    assert error["field"] == "catalog_items" and "HSG-003" in error["message"]
    assert client.get("/api/v1/instances?process=data_authorization", headers=partner).json["total"] == before


def test_unconditional_request_over_http_issues_the_grant(client, api):
    partner, operator = api("partner_a"), api("operator")
    started = _start(client, partner)
    iid = started["id"]
    assert [t["element"] for t in started["open_tasks"]] == ["operator_review"]
    task = _tasks(client, operator, iid, "operator_review")[0]
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=operator).json
    assert detail["form"]["properties"]["decision"]["enum"] == ["approve", "reject", "return"]
    assert detail["context"]["application"]["catalog_items"] == ["MKT-001", "MKT-002"]

    _complete(client, operator, iid, "operator_review", {"decision": "approve", "comment": "同意。"})
    done = _complete(client, operator, iid, "sign_service_agreement", _agreement("NS-FW-2026-301"))
    assert (done["instance"]["status"], done["instance"]["outcome"]) == ("completed", "approved")

    grants = client.get("/api/v1/grants", headers=partner).json["items"]
    [grant] = [g for g in grants if g["instance_id"] == iid]
    assert grant["items"] == ["MKT-001", "MKT-002"] and grant["org"] == "partner_a"
    assert (grant["purpose"], grant["fee_regime"], grant["status"]) == ("public_welfare", "free", "active")
    assert not [g for g in client.get("/api/v1/grants", headers=api("partner_b")).json["items"] if g["instance_id"] == iid]


def test_conditional_request_signed_off_by_seven_units_over_http(client, api):
    partner, operator = api("partner_a"), api("operator")
    iid = _start(client, partner, catalog_items=["MKT-003"], purpose="industry_development")["id"]
    _complete(client, operator, iid, "assign_compliance_reviewer", {"reviewer": "third_party"})
    third_party = api("third_party")
    _complete(client, third_party, iid, "compliance_review",
              {"findings": "符合最小授权原则。", "risk_level": "medium", "conclusion": "compliant_with_conditions"})

    body = client.get(f"/api/v1/instances/{iid}", headers=partner).json
    assert sorted(t["organisation"] for t in body["open_tasks"]) == sorted(SIGNERS.values())
    for username, unit in SIGNERS.items():
        headers = api(username)
        mine = _tasks(client, headers, iid, "joint_signoff")
        assert [(t["organisation"], t["role"]) for t in mine] == [(unit, "joint_meeting")], username
        done = _complete(client, headers, iid, "joint_signoff", {"decision": "approve", "comment": f"{unit}同意。"})
    assert [t["element"] for t in done["instance"]["open_tasks"]] == ["evaluation_opinion"]
    assert _tasks(client, operator, iid, "joint_signoff") == []
    assert _tasks(client, api("partner_b"), iid, "joint_signoff") == []

    _complete(client, api("authority"), iid, "evaluation_opinion",
              {"opinion": "评估确认通过。", "valid_scope": "企业行政处罚信息用于信用评估。"})
    done = _complete(client, operator, iid, "sign_service_agreement", _agreement("NS-FW-2026-302"))
    assert (done["instance"]["status"], done["instance"]["outcome"]) == ("completed", "approved")

    body = client.get(f"/api/v1/instances/{iid}", headers=partner).json
    opinions = [h["comment"] for h in body["history"] if h["action"] == "task.completed" and h["element"] == "joint_signoff"]
    assert sorted(opinions) == sorted(f"{unit}同意。" for unit in SIGNERS.values())
    [grant] = [g for g in client.get("/api/v1/grants", headers=partner).json["items"] if g["instance_id"] == iid]
    assert (grant["items"], grant["fee_regime"]) == (["MKT-003"], "paid")
    assert client.get(f"/api/v1/instances/{iid}", headers=api("partner_b")).status_code == 404
