// Progressive enhancement only: every page works without this file.
// Repeating rows (e.g. the personnel list): show the blank rows one at a time with "add a row".
document.querySelectorAll("fieldset.rows").forEach((fieldset) => {
  const rows = Array.from(fieldset.querySelectorAll("tbody tr"));
  const filled = (row) => Array.from(row.querySelectorAll("input")).some((i) => i.value.trim() !== "");
  let visible = Math.max(1, rows.reduce((n, row, i) => (filled(row) ? i + 1 : n), 0) + 1);
  const button = fieldset.querySelector("button.add-row");
  const render = () => {
    rows.forEach((row, i) => { row.hidden = i >= visible; });
    button.hidden = visible >= rows.length;
  };
  button.addEventListener("click", () => {
    visible += 1;
    render();
    rows[visible - 1].querySelector("input").focus();
  });
  render();
});

// On a phone a wide table scrolls inside itself (app.css); make it focusable then, so that it
// can be scrolled with the keyboard too.
const scrollableTables = () => document.querySelectorAll("table.list").forEach((table) => {
  if (table.scrollWidth > table.clientWidth + 1) table.setAttribute("tabindex", "0");
  else if (table.getAttribute("tabindex") === "0") table.removeAttribute("tabindex");
});
scrollableTables();
window.addEventListener("resize", scrollableTables);
