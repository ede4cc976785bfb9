"""Every HTML form POST needs a CSRF token; the JSON API uses bearer tokens instead."""

from __future__ import annotations


def _post_routes(app):
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.rule.startswith("/api/"):
            args = {name: ("1" if name != "key" else "partner_onboarding") for name in rule.arguments}
            yield rule.rule, args


def test_every_html_post_requires_a_csrf_token(app, login_as):
    c = login_as("operator")
    routes = list(_post_routes(app))
    assert len(routes) >= 6
    for rule, args in routes:
        path = rule
        for name, value in args.items():
            path = path.replace(f"<{name}>", value).replace(f"<int:{name}>", value)
        r = c.post(path, data={"x": "1"})
        assert r.status_code == 400, (rule, r.status_code)
        assert "表单已过期" in r.get_data(as_text=True), rule


def test_api_is_csrf_exempt_but_needs_a_bearer_token(client):
    r = client.post("/api/v1/tasks/abc/claim")
    assert r.status_code == 401 and r.json["error"] == "unauthenticated"
