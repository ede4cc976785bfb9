// The instance diagram: bpmn-js viewer with the steps done and waiting highlighted.
(function () {
  const el = document.getElementById("diagram");
  if (!el || !window.BpmnJS) return;
  const viewer = new window.BpmnJS({ container: el });
  const done = JSON.parse(el.dataset.done || "[]");
  const current = JSON.parse(el.dataset.current || "[]");
  fetch(el.dataset.src, { credentials: "same-origin" })
    .then((r) => { if (!r.ok) throw new Error(r.status); return r.text(); })
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get("canvas");
      const registry = viewer.get("elementRegistry");
      done.forEach((id) => registry.get(id) && canvas.addMarker(id, "gf-done"));
      current.forEach((id) => registry.get(id) && canvas.addMarker(id, "gf-current"));
      canvas.zoom("fit-viewport");
      el.dataset.rendered = "true";
    })
    .catch((err) => {
      el.dataset.rendered = "error";
      el.insertAdjacentHTML("beforeend", "<p class='error'>" + String(err).replace(/[<>&]/g, "") + "</p>");
    });
})();
