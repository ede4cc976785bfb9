"""The inbox and a task page with the keyboard alone: sign in, skip to the content, Tab to the
first task, open it with Enter, Tab through the form in reading order (every stop visibly
focused), choose with Space, type, and submit with Enter."""

from __future__ import annotations

from playwright.sync_api import Page, expect
from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask
from app.services import processes
from tests import factories
from tests.browser.axe import check
from tests.helpers import user

# What the focused element is, and whether its focus can be seen (an outline of 2 px or more).
FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const label = el.labels && el.labels[0] ? el.labels[0].innerText.trim() : '';
  return {tag: el.tagName.toLowerCase(), type: el.type || '', name: el.name || '', id: el.id || '',
          href: el.getAttribute('href') || '', text: (el.innerText || label).trim().slice(0, 40),
          inMain: !!el.closest('main'),
          visible: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2};
}"""


def tab(page: Page) -> dict:
    page.keyboard.press("Tab")
    return page.evaluate(FOCUSED)


def test_inbox_and_task_page_with_the_keyboard_alone(new_page, live_server, app):
    with app.app_context():
        instance = processes.start(db.session, user(db.session, "applicant"), "partner_onboarding",
                                   factories.application())
        db.session.commit()
        instance_id = instance.id
    page = new_page()
    page.goto(live_server + "/login")
    assert page.evaluate(FOCUSED)["id"] == "username"  # the cursor starts in the first field
    page.keyboard.type("operator")
    page.keyboard.press("Tab")
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/inbox")

    # the first Tab reaches the skip link, which shows itself and jumps over the header
    first = tab(page)
    assert first["href"] == "#main" and first["text"] == "跳到正文"
    box = page.locator("a.skip").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0
    page.keyboard.press("Enter")
    stops = []
    for _ in range(20):
        stops.append(tab(page))
        if stops[-1]["href"].startswith("/tasks/"):
            break
    else:
        raise AssertionError(f"no task link within 20 Tabs: {stops}")
    assert all(s["inMain"] for s in stops), stops  # the skip link jumped over the header
    assert all(s["visible"] for s in stops), [s for s in stops if not s["visible"]]
    # the filters come before the list, each control once
    assert [s["id"] for s in stops[:2]] == ["status", "process"]
    title = stops[-1]["text"]
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + stops[-1]["href"])
    expect(page.locator("h1")).to_have_text(title)

    # Tab through the task page to the submit button, choosing and typing on the way
    order: list[str] = []
    for _ in range(40):
        stop = tab(page)
        assert stop["visible"], stop
        if stop["type"] == "radio" and stop["name"] == "decision":
            assert stop["text"] == "通过"  # the first choice of the group
            page.keyboard.press("Space")
            order.append("decision")
        elif stop["id"] == "comment":
            page.keyboard.type("材料齐全，同意。")
            order.append("comment")
        elif stop["type"] == "checkbox" and stop["name"] == "verified_items":
            order.append("verified_items")
        elif stop["tag"] == "button" and stop["text"] == "提交":
            order.append("submit")
            break
    else:
        raise AssertionError(f"the submit button was not reached: {order}")
    assert order[:2] == ["decision", "comment"] and order[-1] == "submit", order
    assert set(order[2:-1]) <= {"verified_items"}, order
    assert page.is_checked("input[name=decision][value=approve]")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/inbox")
    expect(page.locator(".flash")).to_contain_text("已完成")
    expect(page.locator("main table")).not_to_contain_text(title)

    with app.app_context():
        task = db.session.execute(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.title.startswith(title))).scalar_one()  # "中文 / English"
        assert (task.status, task.decision) == ("completed", "approve")
        [done] = [e for e in processes.history(db.session, task.instance) if e.action == "task.completed"]
        assert done.payload["comment"] == "材料齐全，同意。"


def test_the_english_pages_pass_axe_too(new_page, live_server):
    """The second language changes every text, so its contrast and names are checked once."""
    page = new_page("operator")
    page.click("form[action='/locale'] button[name=locale]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for link in ("Inbox", "Start a process", "Instances", "Documents"):
        with page.expect_navigation():
            page.click(f"nav >> text={link}")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        check(page, f"{link} (English)")
