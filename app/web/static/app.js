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
