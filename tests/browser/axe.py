"""axe-core in the browser tests: each main page is checked at the desktop width (1280 px) and at
a phone width (390 px) for serious and critical WCAG violations, and for a page that scrolls
sideways on the phone."""

from __future__ import annotations

from typing import Any

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
AXE_URL = "/assets/axe-core/axe.min.js"  # served from node_modules by app/web/assets.py
BLOCKING = ("serious", "critical")

_RUN = """async (blocking) => {
  const result = await axe.run(document, {
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
    resultTypes: ['violations'],
  });
  return result.violations.filter(v => blocking.includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').split('\\n').slice(1).join('; ')),
  }));
}"""

# What sticks out of the viewport on the left or right (a phone user would have to scroll sideways).
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width + 1) return [];
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && (r.right > width + 1 || r.left < -1) && !el.closest('.sr, .skip, [hidden]')) {
      let inScroller = false;
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') { inScroller = true; break; }
      }
      if (!inScroller) out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                               (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''));
    }
  }
  return out.slice(0, 8);
}"""


def violations(page: Any) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations on the page as it is now (once it has loaded:
    a click on a link returns when the next page has started, before it has a head to add to)."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    return list(page.evaluate(_RUN, list(BLOCKING)))


def overflow(page: Any) -> list[str]:
    """Elements that make the page wider than the viewport (outside a scrolling container)."""
    return list(page.evaluate(_OVERFLOW))


def report(found: list[dict[str, Any]]) -> str:
    return "\n".join(f"{v['impact']} {v['id']}: {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found)


def resize(page: Any, viewport: dict[str, int]) -> None:
    """Change the viewport and wait until the page has handled the resize (two frames)."""
    page.set_viewport_size(viewport)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def check(page: Any, name: str, *, phone: bool = True) -> None:
    """Fail on a serious or critical violation at 1280 px and (with ``phone``) at 390 px, or on a
    page that scrolls sideways at 390 px; the viewport is back at 1280 px afterwards."""
    problems: list[str] = []
    found = violations(page)
    if found:
        problems.append(f"{name} at 1280 px:\n{report(found)}")
    if phone:
        resize(page, PHONE)
        try:
            found = violations(page)
            if found:
                problems.append(f"{name} at 390 px:\n{report(found)}")
            wide = overflow(page)
            if wide:
                problems.append(f"{name} at 390 px scrolls sideways because of: {', '.join(wide)}")
        finally:
            resize(page, DESKTOP)
    assert not problems, "\n".join(problems)


class Checker:
    """Checks each kind of page once per journey (seven task pages need one check, not seven)."""

    def __init__(self) -> None:
        self.checked: list[str] = []

    def __call__(self, page: Any, name: str, *, phone: bool = True) -> None:
        if name in self.checked:
            return
        check(page, name, phone=phone)
        self.checked.append(name)
