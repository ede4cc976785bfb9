"""JSON API v1: the onboarding process end to end over HTTP, the contract, and refusals."""

from __future__ import annotations

from tests import factories


def _task(client, headers, element, instance_id):
    r = client.get("/api/v1/tasks?per_page=100", headers=headers)
    assert r.status_code == 200
    found = [t for t in r.json["items"] if t["element"] == element and t["instance_id"] == instance_id]
    assert found, r.json
    return found[0]


def _complete(client, headers, element, instance_id, data):
    task = _task(client, headers, element, instance_id)
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=headers)
    assert r.status_code == 200, r.json
    return r.json


def _start(client, headers, **overrides):
    r = client.post("/api/v1/processes/partner_onboarding/instances",
                    json={"data": factories.application(**overrides)}, headers=headers)
    assert r.status_code == 201, r.json
    return r.json


def test_onboarding_approved_over_http(client, api):
    applicant, operator, authority = api("applicant"), api("operator"), api("authority")
    started = _start(client, applicant)
    iid = started["id"]
    assert started["status"] == "running" and started["outcome"] is None
    assert {t["element"] for t in started["open_tasks"]} == {"review_qualifications", "admit_personnel"}

    task = _task(client, operator, "review_qualifications", iid)
    assert set(task) >= {"id", "instance_id", "process_key", "title", "role", "assignee", "due_at"}
    assert task["role"] == "operator" and task["due_at"]
    detail = client.get(f"/api/v1/tasks/{task['id']}", headers=operator).json
    assert detail["form"]["properties"]["decision"]["enum"] == ["approve", "reject", "return"]

    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers=operator)
    assert claimed.status_code == 200 and claimed.json["assignee"] == "operator"
    _complete(client, operator, "review_qualifications", iid, factories.review())
    _complete(client, operator, "admit_personnel", iid, factories.review())
    _complete(client, operator, "record_service_agreement", iid, factories.agreement())
    done = _complete(client, authority, "file_onboarding", iid, factories.filing())
    assert done["instance"]["status"] == "completed" and done["instance"]["outcome"] == "approved"

    body = client.get(f"/api/v1/instances/{iid}", headers=applicant).json
    assert (body["status"], body["outcome"], body["open_tasks"]) == ("completed", "approved", [])
    decisions = [h["decision"] for h in body["history"] if h["action"] == "task.completed"]
    assert decisions == ["approve", "approve", None, "approve"]
    me = client.get("/api/v1/me", headers=applicant).json
    assert me["organisation"]["status"] == "active"
    processes = client.get("/api/v1/processes", headers=applicant).json["items"]
    onboarding = next(p for p in processes if p["key"] == "partner_onboarding")
    assert onboarding["can_start"] is False


def test_onboarding_rejected_resubmitted_and_withdrawn_over_http(client, api):
    applicant, operator = api("applicant"), api("operator")
    iid = _start(client, applicant)["id"]
    _complete(client, operator, "review_qualifications", iid, factories.review("reject", "资质不全"))
    _complete(client, operator, "admit_personnel", iid, factories.review())
    _complete(client, applicant, "revise_application", iid, factories.resubmit())
    _complete(client, operator, "review_qualifications", iid, factories.review("return", "仍需补充"))
    _complete(client, operator, "admit_personnel", iid, factories.review())
    done = _complete(client, applicant, "revise_application", iid, factories.withdraw())
    assert (done["instance"]["status"], done["instance"]["outcome"]) == ("completed", "withdrawn")


def test_a_completion_answers_with_the_latest_history_and_get_with_all_of_it(client, api):
    """A long-running instance: the completion's answer keeps a fixed size (the last 20 events,
    in order, and how many there are); GET /instances/{id} still gives the whole history."""
    applicant, operator = api("applicant"), api("operator")
    iid = _start(client, applicant)["id"]
    for _round in range(4):
        _complete(client, operator, "review_qualifications", iid, factories.review("return", "仍需补充"))
        _complete(client, operator, "admit_personnel", iid, factories.review())
        done = _complete(client, applicant, "revise_application", iid, factories.resubmit())
    full = client.get(f"/api/v1/instances/{iid}", headers=applicant).json
    assert full["history_total"] == len(full["history"]) > 20
    answer = done["instance"]
    assert answer["history_total"] == full["history_total"]
    assert answer["history"] == full["history"][-20:]
    assert {"action": "task.completed", "element": "revise_application"}.items() <= next(
        e for e in reversed(answer["history"]) if e["action"] == "task.completed").items()
    assert [t["element"] for t in answer["open_tasks"]] == [t["element"] for t in full["open_tasks"]]


def test_an_instances_open_tasks_read_as_the_task_itself(client, api):
    """The instance's open tasks (read as plain rows for the answer) show each task exactly as
    GET /tasks/{id} does, claimed and unclaimed (units: test_api_data_authorization)."""
    applicant, operator = api("applicant"), api("operator")
    iid = _start(client, applicant)["id"]
    claimed = _task(client, operator, "review_qualifications", iid)
    assert client.post(f"/api/v1/tasks/{claimed['id']}/claim", headers=operator).status_code == 200
    listed = client.get(f"/api/v1/instances/{iid}", headers=operator).json["open_tasks"]
    assert {t["assignee"] for t in listed} == {"operator", None}
    for item in listed:
        alone = client.get(f"/api/v1/tasks/{item['id']}", headers=operator).json
        assert item == {k: alone[k] for k in item}, item["element"]


def test_processes_list_start_form_and_can_start(client, api):
    items = client.get("/api/v1/processes", headers=api("applicant")).json["items"]
    onboarding = next(p for p in items if p["key"] == "partner_onboarding")
    assert onboarding["version"] >= 1 and onboarding["can_start"] is True
    assert "company_name" in onboarding["start_form"]["properties"]
    items_b = client.get("/api/v1/processes", headers=api("partner_b")).json["items"]
    assert next(p for p in items_b if p["key"] == "partner_onboarding")["can_start"] is False


def test_partner_b_cannot_reach_the_applicants_instance_or_tasks(client, api):
    applicant, operator, partner_b = api("applicant"), api("operator"), api("partner_b")
    iid = _start(client, applicant)["id"]
    _complete(client, operator, "review_qualifications", iid, factories.review("reject", "资质不全"))
    _complete(client, operator, "admit_personnel", iid, factories.review())
    revise = _task(client, applicant, "revise_application", iid)

    assert client.get(f"/api/v1/instances/{iid}", headers=partner_b).status_code == 404
    assert client.get(f"/api/v1/instances/{iid + 1000}", headers=partner_b).status_code == 404
    assert client.get("/api/v1/tasks", headers=partner_b).json["total"] == 0
    assert client.get("/api/v1/instances", headers=partner_b).json["total"] == 0
    for method, path in [("get", f"/api/v1/tasks/{revise['id']}"), ("post", f"/api/v1/tasks/{revise['id']}/claim")]:
        r = getattr(client, method)(path, headers=partner_b)
        assert r.status_code == 404 and r.json["error"] == "not_found"
    r = client.post(f"/api/v1/tasks/{revise['id']}/complete", json={"data": factories.withdraw()}, headers=partner_b)
    assert r.status_code == 404
    # nothing changed for the applicant
    assert _task(client, applicant, "revise_application", iid)["id"] == revise["id"]


def test_complete_errors_422_409_403(client, api):
    applicant, operator, authority = api("applicant"), api("operator"), api("authority")
    iid = _start(client, applicant)["id"]
    task = _task(client, operator, "review_qualifications", iid)
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": {"decision": "perhaps"}}, headers=operator)
    assert r.status_code == 422
    assert {e["field"] for e in r.json["errors"]} == {"decision", "comment"}
    r = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": factories.review()}, headers=authority)
    assert r.status_code == 403
    assert client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": factories.review()},
                       headers=operator).status_code == 200
    again = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": factories.review()}, headers=operator)
    assert again.status_code == 409 and again.json["error"] == "task_not_ready"


def test_start_with_invalid_data_is_422_with_field_errors(client, api):
    r = client.post("/api/v1/processes/partner_onboarding/instances",
                    json={"data": factories.application(contact_phone="12", personnel=[{"name": "x"}])},
                    headers=api("applicant"))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json["errors"]}
    assert {"contact_phone", "personnel.0.position", "personnel.0.responsibility"} <= fields
    assert client.get("/api/v1/instances", headers=api("applicant")).json["total"] == 0


def test_bad_requests_get_json_errors(client, api):
    h = api("applicant")
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).json["error"] == "unauthenticated"
    r = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert r.status_code == 422 and r.is_json
    r = client.post("/api/v1/auth/token", json={"username": "applicant", "password": "wrong"})
    assert r.status_code == 401 and r.json["error"] == "unauthenticated"
    r = client.post("/api/v1/auth/token", json={"username": "applicant", "password": "demo", "x": 1})
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "x"
    r = client.post("/api/v1/processes/partner_onboarding/instances", json=[1, 2], headers=h)
    assert r.status_code == 422
    r = client.post("/api/v1/processes/nope/instances", json={"data": {}}, headers=h)
    assert r.status_code == 404 and r.is_json
    r = client.get("/api/v1/tasks?page=abc", headers=h)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "page"
    r = client.get("/api/v1/no-such-endpoint", headers=h)
    assert r.status_code == 404 and r.is_json
    r = client.delete("/api/v1/me", headers=h)
    assert r.status_code == 405 and r.is_json


def test_catalog_lists_classifications_and_departments(client, api):
    items = client.get("/api/v1/catalog", headers=api("partner_a")).json["items"]
    assert len(items) >= 12
    assert {i["classification"] for i in items} == {"unconditional", "conditional", "not_open"}
    assert len({i["source_department"]["code"] for i in items}) >= 4


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    for path in ["/api/v1/auth/token", "/api/v1/me", "/api/v1/processes", "/api/v1/processes/{key}/instances",
                 "/api/v1/instances/{instance_id}", "/api/v1/tasks", "/api/v1/tasks/{task_id}",
                 "/api/v1/tasks/{task_id}/claim", "/api/v1/tasks/{task_id}/complete", "/api/v1/catalog"]:
        assert path in doc["paths"], path


def test_hostile_bodies_get_json_errors_and_change_nothing(client, api):
    h = api("applicant")
    huge = {"data": factories.application(business_scope="数" * (6 * 1024 * 1024))}
    r = client.post("/api/v1/processes/partner_onboarding/instances", json=huge, headers=h)
    assert r.status_code == 413 and r.json["error"] == "payload_too_large"
    r = client.post("/api/v1/processes/partner_onboarding/instances", json={"data": "a string"}, headers=h)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "data"
    r = client.post("/api/v1/processes/partner_onboarding/instances",
                    json={"data": factories.application(company_name=123)}, headers=h)
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "company_name"
    r = client.post("/api/v1/processes/partner_onboarding/instances",
                    json={"data": factories.application(company_name="<script>alert(1)</script>'; DROP TABLE x;--")},
                    headers=h)
    assert r.status_code == 201
    page_client_id = r.json["id"]
    body = client.get(f"/api/v1/instances/{page_client_id}", headers=h).json
    assert body["title"] == "<script>alert(1)</script>'; DROP TABLE x;--"
    r = client.get("/api/v1/tasks/../../etc/passwd", headers=h)
    assert r.status_code == 404 and r.is_json


def test_script_in_data_is_escaped_in_pages(client, api, login_as):
    h = api("applicant")
    evil = "<script>alert(1)</script>"
    iid = client.post("/api/v1/processes/partner_onboarding/instances",
                      json={"data": factories.application(company_name=evil, business_scope=evil)}, headers=h).json["id"]
    page = login_as("applicant").get(f"/instances/{iid}").get_data(as_text=True)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
