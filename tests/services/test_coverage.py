"""Every article of chapters 3-6 that prescribes a step is implemented by a step or a rule."""

from __future__ import annotations

from app.services import coverage


def test_every_prescribing_article_is_implemented(session):
    rows = coverage.coverage(session)
    missing = [r.article for r in rows if r.prescribes_steps and not r.implemented]
    assert missing == []
    by_article = {r.article: r for r in rows}
    assert {s.process_key for s in by_article["Art. 20"].steps} == {"data_authorization"}
    assert any(s.element == "joint_signoff" for s in by_article["Art. 20"].steps)
    assert by_article["Art. 2"].rules  # refused at intake
    assert all(3 <= r.chapter <= 6 for r in rows if r.prescribes_steps)


def test_articles_page_marks_an_article_without_steps(login_as, session):
    page = login_as("authority").get("/articles").get_data(as_text=True)
    assert "第20条" in page and "联席会议" in page
    assert "所有规定办理环节的条款均已有对应环节" in page
