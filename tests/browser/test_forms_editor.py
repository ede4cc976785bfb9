"""The forms editor in Chromium: the admin opens a form from the designer, changes its title,
watches the zh/en preview follow (and a problem show up and go away), saves, and finds the
new version in the list."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from app.extensions import db
from app.services import form_versions

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
KEY = "onboarding_qualification_review"
ZH_TITLE = '"title": "入驻资质审查"'
EN_TITLE = '"x-title-en": "Onboarding qualification review"'


def _axe(page) -> list:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")


def test_edit_a_title_see_the_preview_save_and_find_the_version(new_page, live_server, app):
    page = new_page("admin")
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.click("nav a[href='/designer']")
    page.click("a[href='/designer/forms']")
    page.click(f"#designer-forms a[href='/designer/forms/{KEY}']")
    page.wait_for_selector("#form-editor[data-ready=true]")
    zh_title = page.locator(".form-preview[data-lang=zh] .preview-title")
    en_title = page.locator(".form-preview[data-lang=en] .preview-title")
    expect(zh_title).to_have_text("入驻资质审查")
    expect(en_title).to_have_text("Onboarding qualification review")
    expect(page.locator("#form-versions tbody tr")).to_have_count(1)
    if AXE.exists():
        assert _axe(page) == []

    text = page.input_value("#form-schema")
    assert ZH_TITLE in text and EN_TITLE in text
    edited = text.replace(ZH_TITLE, '"title": "入驻资质审查（修订）"', 1).replace(
        EN_TITLE, '"x-title-en": "Qualification review (revised)"', 1)
    page.fill("#form-schema", edited)
    expect(zh_title).to_have_text("入驻资质审查（修订）")
    expect(en_title).to_have_text("Qualification review (revised)")
    expect(page.locator("#form-preview-status")).to_have_text("预览已更新。")

    # a problem appears as it is typed, and goes away when it is undone
    page.fill("#form-schema", edited.replace('"type": "object"', '"type": "array"', 1))
    expect(page.locator("#form-problems")).to_contain_text("/type")
    expect(page.locator("#form-schema")).to_have_attribute("aria-invalid", "true")
    page.fill("#form-schema", edited)
    expect(zh_title).to_have_text("入驻资质审查（修订）")

    page.fill("#form-comment", "标题加上“修订”")
    page.click("#form-save")
    page.wait_for_url(f"{live_server}/designer/forms/{KEY}")
    expect(page.locator(".flash.success")).to_have_text("已保存为第 2 版。")
    newest = page.locator("#form-versions tr[data-version='2']")
    expect(newest.locator(".comment")).to_have_text("标题加上“修订”")
    expect(newest.locator(".by")).to_have_text("admin")
    expect(page.locator("#form-versions tbody tr")).to_have_count(2)
    expect(zh_title).to_have_text("入驻资质审查（修订）")
    assert problems == []

    with app.app_context():
        current = form_versions.current(db.session, KEY)
        assert current.version == 2 and current.schema["title"] == "入驻资质审查（修订）"
