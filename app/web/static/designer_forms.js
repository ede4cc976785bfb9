// The forms editor, progressively enhanced: the preview follows the text area a moment after
// each change (the server draws it, as it draws the task page), and leaving with unsaved
// changes asks first. Without this file the Preview button does the same by posting the page.
(() => {
  const root = document.getElementById("form-editor");
  if (!root) return;
  const source = document.getElementById("form-schema");
  const preview = document.getElementById("form-preview");
  const status = document.getElementById("form-preview-status");
  const DELAY = 400;
  let timer = null;
  let sent = 0;
  let dirty = false;

  const show = (state, message) => {
    root.dataset.previewState = state;
    status.textContent = message || "";
    status.className = "designer-status" + (state === "invalid" || state === "error" ? " bad" : "");
  };

  const refresh = async () => {
    const mine = ++sent;
    show("loading", root.dataset.msgUpdating);
    try {
      const response = await fetch(root.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"X-CSRFToken": root.dataset.csrfToken, "Accept": "text/html"},
        body: new URLSearchParams({schema: source.value}),
      });
      if (mine !== sent) return; // a newer request is on its way
      if (response.status !== 200 && response.status !== 422) throw new Error(String(response.status));
      preview.innerHTML = await response.text(); // our own server-rendered, escaped fragment
      const valid = response.status === 200;
      source.setAttribute("aria-invalid", valid ? "false" : "true");
      show(valid ? "ok" : "invalid", valid ? root.dataset.msgUpdated : root.dataset.msgInvalid);
      root.dataset.previewCount = String(mine);
    } catch (error) {
      if (mine === sent) show("error", root.dataset.msgNetwork);
    }
  };

  source.addEventListener("input", () => {
    dirty = true;
    clearTimeout(timer);
    timer = setTimeout(refresh, DELAY);
  });
  root.querySelector("form").addEventListener("submit", () => { dirty = false; });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) event.preventDefault();
  });
  root.dataset.ready = "true";
})();
