// The process designer: bpmn-js modeler with a side panel for GrantFlow's extension
// properties, validation shown on the diagram, deploy; the version diff viewers; the
// "select all" box of the migration page. Data comes from data- attributes and
// <script type="application/json"> blobs rendered by the templates (no inline handlers).
(function () {
  "use strict";

  const SPIFF_URI = "http://spiffworkflow.org/bpmn/schema/1.0/core";

  // bpmn-moddle does not know the SpiffWorkflow namespace: describe the elements our
  // workflows use so they are typed (editable) and written back as they were read.
  const textBody = (name) => ({
    name, superClass: ["Element"], properties: [{ name: "value", type: "String", isBody: true }],
  });
  const SPIFF_DESCRIPTOR = {
    name: "SpiffWorkflow",
    uri: SPIFF_URI,
    prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    associations: [],
    types: [
      { name: "Properties", superClass: ["Element"],
        properties: [{ name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"],
        properties: [{ name: "name", isAttr: true, type: "String" }, { name: "value", isAttr: true, type: "String" }] },
      { name: "ServiceTaskOperator", superClass: ["Element"],
        properties: [{ name: "id", isAttr: true, type: "String" },
          { name: "resultVariable", isAttr: true, type: "String" },
          { name: "parameterList", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"],
        properties: [{ name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"],
        properties: [{ name: "id", isAttr: true, type: "String" }, { name: "type", isAttr: true, type: "String" },
          { name: "value", isAttr: true, type: "String" }] },
      textBody("CalledDecisionId"), textBody("PreScript"), textBody("PostScript"),
      textBody("VariableName"), textBody("InstructionsForEndUser"), textBody("MessageVariable"),
      textBody("SignalPayloadExpression"), textBody("ProcessVariableCorrelation"),
      { name: "MultiInstanceScripts", extends: ["bpmn:MultiInstanceLoopCharacteristics"],
        properties: [{ name: "scriptsOnInstances", isAttr: true, type: "String" }] },
    ],
  };

  const DUE_PRESETS = ["P1D", "P3D", "P5D", "P10D", "P15D", "P30D"];
  const DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
  const GATEWAYS = ["bpmn:ExclusiveGateway", "bpmn:InclusiveGateway"];

  const byId = (id) => document.getElementById(id);
  const jsonBlob = (id) => {
    const el = byId(id);
    return el ? JSON.parse(el.textContent) : null;
  };
  const I18N = jsonBlob("designer-i18n") || {};
  const t = (key, params) => (I18N[key] || key).replace(/%\((\w+)\)s/g,
    (m, name) => (params && params[name] !== undefined ? String(params[name]) : m));

  // Small DOM builder: h("p", {class: "x", text: "y"}, child, ...)
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null || v === false) return;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, v);
    });
    children.flat().forEach((c) => { if (c !== null && c !== undefined && c !== false) el.append(c); });
    return el;
  }

  async function postJSON(url, token, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
        body: JSON.stringify(body),
      });
    } catch (err) {
      return { status: 0, data: { error: "network", message: t("network_error"), errors: [] } };
    }
    let data;
    try {
      data = await response.json();
    } catch (err) {
      data = { error: "http_" + response.status,
        message: response.status === 400 ? t("csrf_error") : t("server_error"), errors: [] };
    }
    return { status: response.status, data };
  }

  // The Chinese labels of the modeler itself (context pad, palette, popup menu).
  async function loadTranslate(root) {
    if (root.dataset.lang !== "zh" || !root.dataset.translations) return null;
    try {
      const module = await import(root.dataset.translations);
      const dictionary = module.default || {};
      return function translate(template, replacements) {
        const text = dictionary[template] || template;
        return text.replace(/{([^}]+)}/g, (m, key) => (replacements && key in replacements ? replacements[key] : m));
      };
    } catch (err) {
      return null;
    }
  }

  // ---------------------------------------------------------------- extension properties
  function spiffProperties(bo) {
    const values = (bo && bo.extensionElements && bo.extensionElements.values) || [];
    return values.find((v) => v.$instanceOf && v.$instanceOf("spiffworkflow:Properties")) || null;
  }

  function readProps(bo) {
    const out = {};
    const container = spiffProperties(bo);
    ((container && container.properties) || []).forEach((p) => { if (p.name) out[p.name] = p.value || ""; });
    return out;
  }

  function splitList(value) {
    return String(value || "").split(",").map((s) => s.trim()).filter(Boolean);
  }

  // ---------------------------------------------------------------------------- modeler
  async function initModeler(root) {
    const data = jsonBlob("designer-data");
    const catalogue = data.catalogue;
    const token = root.dataset.csrfToken;
    const translate = await loadTranslate(root);
    const modules = translate ? [{ translate: ["value", translate] }] : [];
    const modeler = new window.BpmnJS({
      container: byId("designer-canvas"),
      additionalModules: modules,
      moddleExtensions: { spiffworkflow: SPIFF_DESCRIPTOR },
    });
    const get = (name) => modeler.get(name);
    const status = byId("designer-status");
    const state = {
      key: data.key || "", version: data.version || null, bpmnName: data.bpmn_name || "",
      original: data.xml, dirty: !!data.dirty, errors: [], validating: 0, lost: [],
    };

    const say = (text, kind) => {
      status.textContent = text;
      status.className = "designer-status" + (kind ? " " + kind : "");
    };

    // ---------------------------------------------------------------- import / export
    async function open(xml, dirty) {
      clearErrors();
      try {
        const result = await modeler.importXML(xml);
        state.lost = keepUnresolved(result.warnings || [])
          .map((w) => String(w.message || w)).filter((m) => /unparsable|unrecognized|unresolved/i.test(m));
      } catch (err) {
        say(t("import_failed", { error: String(err.message || err) }), "bad");
        showErrors([{ element: null, message: String(err.message || err) }]);
        return false;
      }
      state.dirty = !!dirty;
      fit();
      renderPanel();
      if (state.lost.length) {
        showErrors(state.lost.map((m) => ({ element: null, message: t("lost_content", { detail: m }) })));
        say(t("lost_warning"), "bad");
      } else {
        const process = processBo();
        const existing = !state.key && process && data.known_keys.includes(process.id);
        say(existing ? t("new_version_of", { key: process.id }) : dirty ? t("opened_file") : "");
        scheduleValidation(50);
      }
      root.dataset.ready = "true";
      return true;
    }

    // SpiffWorkflow names a process variable where BPMN expects a reference to a data
    // element (<bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>); moddle cannot resolve
    // it and would drop it on export. Keep such single references as named placeholders.
    function keepUnresolved(warnings) {
      return warnings.filter((w) => {
        const unresolved = /^unresolved reference/.test(String(w.message || ""));
        if (!unresolved || !w.element || !w.property || !w.value) return true;
        const name = String(w.property).replace(/^bpmn:/, "");
        const descriptor = w.element.$descriptor.propertiesByName[name];
        if (!descriptor || descriptor.isMany) return true;
        w.element.set(name, get("moddle").create("bpmn:ItemAwareElement", { id: w.value }));
        return false;
      });
    }

    // the whole diagram, clear of the palette on the left
    function fit() {
      const canvas = get("canvas");
      canvas.zoom("fit-viewport", "auto");
      canvas.zoom(Math.min(1, canvas.viewbox().scale * 0.86), "auto");
      canvas.scroll({ dx: 50, dy: 0 });
    }

    const processBo = () => {
      const rootBo = get("canvas").getRootElement().businessObject;
      if (rootBo.$instanceOf("bpmn:Process")) return rootBo;
      if (rootBo.$instanceOf("bpmn:SubProcess")) return null;
      const participant = (rootBo.participants || []).find((p) => p.processRef);
      return participant ? participant.processRef : null;
    };

    async function currentFiles() {
      const files = {};
      let xml = state.original;
      if (state.dirty || !xml) xml = (await modeler.saveXML({ format: true })).xml;
      const process = processBo();
      const name = state.bpmnName || ((process && process.id) || "process") + ".bpmn";
      files[name] = xml;
      return { files, base_key: state.key || (process && data.known_keys.includes(process.id) ? process.id : "") };
    }

    // ---------------------------------------------------------------- validation
    let overlayIds = [];
    let validationTimer = null;

    function clearErrors() {
      const overlays = get("overlays");
      const canvas = get("canvas");
      overlayIds.forEach((id) => overlays.remove(id));
      overlayIds = [];
      state.errors.forEach((e) => { if (e.shape) canvas.removeMarker(e.shape, "gf-invalid"); });
      state.errors = [];
    }

    function focusElement(id) {
      const element = get("elementRegistry").get(id);
      if (!element) return;
      const canvas = get("canvas");
      try {
        const elementRoot = canvas.findRoot(element);
        if (elementRoot && elementRoot !== canvas.getRootElement()) canvas.setRootElement(elementRoot);
      } catch (err) { /* older canvas without planes */ }
      canvas.scrollToElement(element, { top: 120, bottom: 120, left: 120, right: 120 });
      get("selection").select(element);
    }

    function showErrors(errors) {
      clearErrors();
      const registry = get("elementRegistry");
      const overlays = get("overlays");
      const canvas = get("canvas");
      const list = byId("designer-errors");
      const summary = byId("designer-errors-summary");
      list.replaceChildren();
      const perElement = {};
      errors.forEach((error, index) => {
        const shape = error.element ? registry.get(error.element) : null;
        const entry = { ...error, shape, index };
        state.errors.push(entry);
        const label = shape ? (shape.businessObject.name || error.element) : (error.element || t("whole_file"));
        const item = h("li", { id: "designer-error-" + index, class: "designer-error" },
          shape
            ? h("button", { type: "button", class: "link", "data-element": error.element,
              onclick: () => focusElement(error.element) }, h("strong", { text: label }))
            : h("strong", { text: label }),
          " ", h("span", { text: error.message }));
        list.append(item);
        if (shape) {
          canvas.addMarker(shape, "gf-invalid");
          (perElement[error.element] = perElement[error.element] || []).push(entry);
        }
      });
      Object.entries(perElement).forEach(([id, items]) => {
        const badge = h("button", {
          type: "button", class: "gf-error-badge", "data-element": id,
          title: items.map((e) => e.message).join("\n"),
          "aria-label": t("problems_at", { n: items.length, element: id }),
          onclick: (event) => {
            event.stopPropagation();
            focusElement(id);
            const first = byId("designer-error-" + items[0].index);
            if (first) first.scrollIntoView({ block: "nearest" });
          },
        }, String(items.length));
        overlayIds.push(overlays.add(id, "gf-error", { position: { top: -12, right: 12 }, scale: { min: 1 }, html: badge }));
      });
      root.dataset.errors = String(errors.length);
      summary.textContent = errors.length ? t("n_problems", { n: errors.length }) : t("no_problems");
      summary.className = errors.length ? "error" : "ok";
    }

    async function validate() {
      const ticket = ++state.validating;
      root.dataset.validating = "true";
      const payload = await currentFiles();
      const { status: code, data: body } = await postJSON(root.dataset.validateUrl, token, payload);
      const errors = code === 200 || code === 422
        ? (body.errors || []).concat(state.lost.map((m) => ({ element: null, message: t("lost_content", { detail: m }) })))
        : null;
      if (ticket === state.validating) { // else a newer validation is on its way: leave the display to it
        root.dataset.validating = "false";
        if (errors) showErrors(errors);
        else say(body.message || t("server_error"), "bad");
      }
      return errors;
    }

    function scheduleValidation(delay) {
      clearTimeout(validationTimer);
      validationTimer = setTimeout(validate, delay === undefined ? 900 : delay);
    }

    // ---------------------------------------------------------------- deploy
    const dialog = byId("deploy-dialog");
    const dialogResult = byId("deploy-result");
    const deployButton = byId("deploy-submit");

    async function openDeploy() {
      dialogResult.replaceChildren(h("p", { text: t("validating") }));
      deployButton.disabled = true;
      if (!dialog.open) dialog.showModal();
      byId("deploy-comment").focus();
      const errors = await validate();
      if (errors === null) {
        dialogResult.replaceChildren(h("p", { class: "error", text: t("server_error") }));
      } else if (errors.length) {
        dialogResult.replaceChildren(h("p", { class: "error", text: t("fix_before_deploy", { n: errors.length }) }),
          errorList(errors));
      } else {
        dialogResult.replaceChildren(h("p", { class: "ok", text: t("valid_ready") }));
        deployButton.disabled = false;
      }
    }

    function errorList(errors) {
      return h("ul", { class: "designer-errors" }, errors.map((e) => h("li", {},
        h("strong", { text: e.element || t("whole_file") }), " ", h("span", { text: e.message }))));
    }

    async function deploy(event) {
      event.preventDefault();
      const comment = byId("deploy-comment").value.trim();
      if (!comment) {
        dialogResult.replaceChildren(h("p", { class: "error", text: t("comment_required") }));
        byId("deploy-comment").focus();
        return;
      }
      deployButton.disabled = true;
      dialogResult.replaceChildren(h("p", { text: t("deploying") }));
      const payload = await currentFiles();
      payload.comment = comment;
      const { status: code, data: body } = await postJSON(root.dataset.deployUrl, token, payload);
      if (code === 201 || code === 200) {
        const xml = payload.files[Object.keys(payload.files)[0]];
        state.original = xml;
        state.dirty = false;
        state.key = body.process_key;
        state.version = body.version;
        state.bpmnName = Object.keys(payload.files)[0];
        const versionsUrl = root.dataset.versionsUrl.replace("__KEY__", encodeURIComponent(body.process_key));
        const text = body.created ? t("deployed", { version: body.version }) : t("unchanged", { version: body.version });
        dialogResult.replaceChildren(h("p", { class: "ok", id: "deploy-outcome", "data-version": body.version,
          "data-created": String(!!body.created), text }), h("p", {}, h("a", { href: versionsUrl, text: t("see_versions") })));
        say(text, "ok");
        byId("designer-version").textContent = t("version_n", { version: body.version });
        const editUrl = root.dataset.editUrl.replace("__KEY__", encodeURIComponent(body.process_key));
        if (location.pathname !== editUrl) history.replaceState(null, "", editUrl);
        byId("deploy-comment").value = "";
      } else {
        dialogResult.replaceChildren(h("p", { class: "error", text: body.message || t("server_error") }),
          errorList(body.errors || []));
        if (body.errors) showErrors(body.errors);
        deployButton.disabled = false;
      }
    }

    byId("deploy-form").addEventListener("submit", deploy);
    byId("deploy-cancel").addEventListener("click", () => dialog.close());
    byId("designer-deploy").addEventListener("click", openDeploy);
    byId("designer-validate").addEventListener("click", async () => {
      say(t("validating"));
      const errors = await validate();
      if (errors) say(errors.length ? t("n_problems", { n: errors.length }) : t("no_problems"), errors.length ? "bad" : "ok");
    });
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "s") {
        event.preventDefault();
        openDeploy();
      }
    });

    // ---------------------------------------------------------------- files
    byId("designer-download").addEventListener("click", async () => {
      const { files } = await currentFiles();
      const name = Object.keys(files)[0];
      const url = URL.createObjectURL(new Blob([files[name]], { type: "application/xml" }));
      const link = h("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    });
    byId("designer-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      event.target.value = "";
      if (!file) return;
      if (state.dirty && !window.confirm(t("discard_changes"))) return;
      if (file.size > data.max_upload) {
        say(t("file_too_large"), "bad");
        return;
      }
      const xml = await file.text();
      if (await open(xml, true) && !state.key) state.bpmnName = "";
    });

    window.addEventListener("beforeunload", (event) => {
      if (!state.dirty) return;
      event.preventDefault();
      event.returnValue = "";
    });

    // ---------------------------------------------------------------- changes
    get("eventBus").on("commandStack.changed", (event) => {
      if (event && event.trigger === "clear") return;
      state.dirty = true;
      root.dataset.dirty = "true";
      scheduleValidation();
    });
    get("eventBus").on("selection.changed", () => renderPanel());
    get("eventBus").on("elements.changed", (event) => {
      const selected = get("selection").get();
      const shown = selected.length === 1 ? selected[0] : get("canvas").getRootElement();
      if (event.elements.some((e) => e === shown || e.businessObject === shown.businessObject)) renderPanel();
    });
    get("eventBus").on("root.set", () => renderPanel());

    // ---------------------------------------------------------------- side panel
    const modeling = () => get("modeling");
    const moddle = () => get("moddle");

    // Write (or remove, when value is empty) one spiffworkflow:property through the
    // command stack, so undo/redo and the dirty flag work.
    function writeProp(element, bo, name, value) {
      const m = modeling();
      value = (value || "").trim();
      let extension = bo.extensionElements;
      let container = spiffProperties(bo);
      const existing = container ? (container.properties || []).find((p) => p.name === name) : null;
      if (existing) {
        if (value) m.updateModdleProperties(element, existing, { value });
        else m.updateModdleProperties(element, container, { properties: container.properties.filter((p) => p !== existing) });
        return;
      }
      if (!value) return;
      if (!extension) {
        extension = moddle().create("bpmn:ExtensionElements", { values: [] });
        extension.$parent = bo;
        m.updateModdleProperties(element, bo, { extensionElements: extension });
      }
      if (!container) {
        container = moddle().create("spiffworkflow:Properties", { properties: [] });
        container.$parent = extension;
        m.updateModdleProperties(element, extension, { values: (extension.values || []).concat([container]) });
      }
      const property = moddle().create("spiffworkflow:Property", { name, value });
      property.$parent = container;
      m.updateModdleProperties(element, container, { properties: (container.properties || []).concat([property]) });
    }

    const label = (entry) => (root.dataset.lang === "zh" ? entry.zh : entry.en) || entry.zh || entry.en;
    const formLabel = (f) => (root.dataset.lang === "zh" ? f.title : f.title_en || f.title);
    let fieldSeq = 0;
    const fieldId = (name) => "gf-" + name + "-" + (++fieldSeq);

    function selectField(name, title, value, options, onChange, help) {
      const id = fieldId(name);
      const known = options.some((o) => o.value === value);
      const select = h("select", { id, name, onchange: (e) => onChange(e.target.value) },
        h("option", { value: "", text: t("choose") }),
        options.map((o) => h("option", { value: o.value, text: o.label, selected: o.value === value })),
        value && !known ? h("option", { value, selected: true, text: t("unknown_value", { value }) }) : null);
      return h("div", { class: "field" }, h("label", { for: id, text: title }), select,
        help ? h("p", { class: "help", text: help }) : null);
    }

    function textField(name, title, value, onChange, opts) {
      const id = fieldId(name);
      const o = opts || {};
      const attrs = { id, name, value: value || "", onchange: (e) => onChange(e.target.value),
        placeholder: o.placeholder, spellcheck: "false", autocomplete: "off" };
      const input = o.multiline ? h("textarea", { ...attrs, rows: 3 }) : h("input", { ...attrs, type: "text" });
      if (o.multiline) input.value = value || "";
      const helpId = o.help ? id + "-help" : null;
      if (helpId) input.setAttribute("aria-describedby", helpId);
      if (o.disabled) input.disabled = true;
      return h("div", { class: "field" }, h("label", { for: id, text: title }), input,
        o.help ? h("p", { class: "help", id: helpId, text: o.help }) : null);
    }

    function checkList(name, title, values, options, onChange) {
      const chosen = new Set(values);
      const all = options.slice();
      values.filter((v) => !options.some((o) => o.value === v))
        .forEach((v) => all.push({ value: v, label: t("unknown_value", { value: v }) }));
      const summaryId = fieldId(name + "-chosen");
      const summary = h("p", { class: "help chosen", id: summaryId });
      const fieldset = h("fieldset", { class: "checklist", "data-name": name, "aria-describedby": summaryId },
        h("legend", { text: title }));
      const labelOf = (v) => (all.find((o) => o.value === v) || { label: v }).label;
      const showChosen = (picked) => {
        summary.textContent = picked.length ? t("chosen", { items: picked.map(labelOf).join("; ") }) : t("none_chosen");
      };
      all.forEach((o) => {
        const box = h("input", { type: "checkbox", name: name + ":" + o.value, value: o.value, checked: chosen.has(o.value) });
        box.addEventListener("change", () => {
          const picked = Array.from(fieldset.querySelectorAll("input:checked")).map((i) => i.value);
          showChosen(picked);
          onChange(picked);
        });
        fieldset.append(h("label", { class: "choice" }, box, h("span", { text: o.label })));
      });
      showChosen(values);
      return h("div", { class: "field" }, fieldset, summary);
    }

    function articleOrder(list) {
      const n = (a) => parseInt(String(a).replace(/\D+/g, ""), 10) || 999;
      return list.slice().sort((a, b) => n(a) - n(b));
    }

    function articlesField(element, bo, props) {
      const options = catalogue.articles.map((a) => ({ value: a.article, label: a.label || label(a) }));
      return checkList("articles", t("articles"), splitList(props.articles), options,
        (picked) => writeProp(element, bo, "articles", articleOrder(picked).join(", ")));
    }

    function dueField(element, bo, value) {
      const id = fieldId("due");
      const input = h("input", { id, name: "due", type: "text", value: value || "", placeholder: "P5D",
        "aria-describedby": id + "-help", spellcheck: "false", autocomplete: "off" });
      const hint = h("p", { class: "help", id: id + "-help", text: t("due_help") });
      const check = () => {
        const bad = input.value.trim() && !DURATION.test(input.value.trim());
        input.setAttribute("aria-invalid", bad ? "true" : "false");
        hint.textContent = bad ? t("due_invalid") : t("due_help");
        hint.className = bad ? "field-error" : "help";
      };
      input.addEventListener("change", () => { check(); writeProp(element, bo, "due", input.value); });
      check();
      const presets = h("div", { class: "presets", role: "group", "aria-label": t("due_presets") },
        DUE_PRESETS.map((p) => h("button", { type: "button", class: "preset", "data-value": p, name: "due-preset-" + p,
          "aria-pressed": String(p === value), title: t("n_days", { n: p.slice(1, -1) }),
          onclick: () => { input.value = p; check(); writeProp(element, bo, "due", p); } }, p)));
      return h("div", { class: "field" }, h("label", { for: id, text: t("due") }), input, presets, hint);
    }

    // What the task page shows: the guidance (the element's documentation, Chinese) and the
    // English title and guidance for readers who chose English.
    function textsField(element, bo, props) {
      const documentation = (bo.documentation || [])[0];
      return h("details", { class: "advanced texts", open: !props.titleEn || !props.documentationEn },
        h("summary", { text: t("texts") }),
        textField("documentation", t("guidance"), documentation ? documentation.text : "", (v) => {
          v = v.trim();
          const docs = v ? [moddle().create("bpmn:Documentation", { text: v })] : [];
          modeling().updateProperties(element, { documentation: docs });
        }, { multiline: true, help: t("guidance_help") }),
        textField("titleEn", t("title_en"), props.titleEn || "", (v) => writeProp(element, bo, "titleEn", v),
          { help: t("title_en_help") }),
        textField("documentationEn", t("guidance_en"), props.documentationEn || "",
          (v) => writeProp(element, bo, "documentationEn", v), { multiline: true }));
    }

    function otherProps(props, handled) {
      const rest = Object.entries(props).filter(([k]) => !handled.includes(k));
      if (!rest.length) return null;
      return h("details", { class: "other-props" }, h("summary", { text: t("other_properties") }),
        h("dl", { class: "facts" }, rest.map(([k, v]) => [h("dt", { text: k }), h("dd", { class: "pre", text: v })])));
    }

    function nameField(element) {
      const bo = element.businessObject;
      const name = textField("name", t("name"), bo.name || "", (v) => modeling().updateLabel(element, v));
      const id = textField("element_id", t("element_id"), bo.id, (v) => {
        v = v.trim();
        if (v === bo.id) return;
        if (!/^[A-Za-z_][\w.-]*$/.test(v)) { say(t("bad_id"), "bad"); renderPanel(); return; }
        if (get("elementRegistry").get(v)) { say(t("id_taken", { id: v }), "bad"); renderPanel(); return; }
        modeling().updateProperties(element, { id: v });
      }, { help: t("element_id_help") });
      return [name, id];
    }

    function panelFor(element) {
      const bo = element.businessObject;
      const props = readProps(bo);
      const parts = [];
      const roleOptions = catalogue.roles.map((r) => ({ value: r.key, label: label(r) + " (" + r.key + ")" }));
      const formOptions = catalogue.forms.map((f) => ({ value: f.key, label: formLabel(f) + " (" + f.key + ")" }));
      const head = (kind, id) => h("p", { class: "sub" }, h("span", { class: "tag", text: kind }), " ",
        h("code", { text: id || bo.id }));

      if (bo.$instanceOf("bpmn:Process") || bo.$instanceOf("bpmn:Participant") || bo.$instanceOf("bpmn:Collaboration")) {
        const process = bo.$instanceOf("bpmn:Process") ? bo : (bo.processRef || processBo());
        if (!process) return [h("p", { class: "muted", text: t("no_process") })];
        const processProps = readProps(process);
        parts.push(head(t("type_process"), process.id));
        if (!state.key) {
          parts.push(textField("process_id", t("process_key"), process.id, (v) => {
            v = v.trim();
            if (!/^[A-Za-z_][\w.-]*$/.test(v)) { say(t("bad_key"), "bad"); return; }
            modeling().updateModdleProperties(element, process, { id: v });
          }, { help: t("process_key_help") }));
        } else {
          parts.push(h("p", {}, t("process_key") + ": ", h("code", { text: process.id })));
        }
        parts.push(textField("process_name", t("name"), process.name || "",
          (v) => modeling().updateModdleProperties(element, process, { name: v.trim() }),
          { help: t("process_name_help") }));
        parts.push(articlesField(element, process, processProps));
        parts.push(otherProps(processProps, ["articles"]));
        return parts;
      }
      if (bo.$instanceOf("bpmn:UserTask")) {
        parts.push(head(t("type_user_task")), nameField(element));
        parts.push(selectField("role", t("role"), props.role || "", roleOptions,
          (v) => writeProp(element, bo, "role", v), props.roleExpression ? t("role_or_expression") : null));
        parts.push(selectField("formKey", t("form"), props.formKey || "", formOptions, (v) => writeProp(element, bo, "formKey", v)));
        parts.push(articlesField(element, bo, props));
        parts.push(dueField(element, bo, props.due || ""));
        parts.push(textsField(element, bo, props));
        const advanced = h("details", { class: "advanced", open: !!(props.roleExpression || props.orgExpression) },
          h("summary", { text: t("advanced") }),
          textField("roleExpression", t("role_expression"), props.roleExpression || "",
            (v) => writeProp(element, bo, "roleExpression", v), { help: t("role_expression_help") }),
          textField("orgExpression", t("org_expression"), props.orgExpression || "",
            (v) => writeProp(element, bo, "orgExpression", v), { help: t("org_expression_help") }));
        parts.push(advanced);
        parts.push(otherProps(props, ["role", "formKey", "articles", "due", "roleExpression", "orgExpression",
          "titleEn", "documentationEn"]));
        return parts;
      }
      if (bo.$instanceOf("bpmn:StartEvent") && !(bo.$parent && bo.$parent.$instanceOf("bpmn:SubProcess"))) {
        parts.push(head(t("type_start")), nameField(element));
        parts.push(selectField("formKey", t("start_form"), props.formKey || "", formOptions,
          (v) => writeProp(element, bo, "formKey", v), t("start_form_help")));
        parts.push(checkList("startRoles", t("start_roles"), splitList(props.startRoles),
          catalogue.roles.map((r) => ({ value: r.key, label: label(r) })),
          (picked) => writeProp(element, bo, "startRoles", picked.join(", "))));
        parts.push(articlesField(element, bo, props));
        parts.push(otherProps(props, ["formKey", "startRoles", "articles"]));
        return parts;
      }
      if (bo.$instanceOf("bpmn:SequenceFlow")) {
        parts.push(head(t("type_flow")), nameField(element));
        const source = bo.sourceRef;
        if (source && GATEWAYS.some((g) => source.$instanceOf(g))) {
          const isDefault = source.default === bo;
          const gatewayShape = get("elementRegistry").get(source.id);
          const condition = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
          parts.push(textField("condition", t("condition"), condition, (v) => {
            v = v.trim();
            const expression = v ? moddle().create("bpmn:FormalExpression", { body: v }) : undefined;
            modeling().updateProperties(element, { conditionExpression: expression });
          }, { multiline: true, disabled: isDefault, help: isDefault ? t("default_no_condition") : t("condition_help"),
            placeholder: 'review["decision"] == "approve"' }));
          const id = fieldId("default");
          const box = h("input", { type: "checkbox", id, name: "default-flow", checked: isDefault });
          box.addEventListener("change", () => {
            if (box.checked) {
              if (bo.conditionExpression) modeling().updateProperties(element, { conditionExpression: undefined });
              modeling().updateProperties(gatewayShape, { default: bo });
            } else {
              modeling().updateProperties(gatewayShape, { default: undefined });
            }
            renderPanel();
          });
          parts.push(h("div", { class: "field" }, h("label", { class: "choice", for: id }, box, h("span", { text: t("default_flow") })),
            h("p", { class: "help", text: t("default_help") })));
        } else {
          parts.push(h("p", { class: "muted", text: t("flow_no_condition") }));
        }
        return parts;
      }
      parts.push(head(bo.$type.replace("bpmn:", "")), bo.$instanceOf("bpmn:FlowElement") || bo.$instanceOf("bpmn:Lane") ? nameField(element) : null);
      if (bo.$instanceOf("bpmn:ServiceTask")) {
        const operator = ((bo.extensionElements && bo.extensionElements.values) || [])
          .find((v) => v.$instanceOf && v.$instanceOf("spiffworkflow:ServiceTaskOperator"));
        if (operator) {
          const params = (operator.parameterList && operator.parameterList.parameters) || [];
          parts.push(h("p", {}, t("action") + ": ", h("code", { text: operator.id || "" })),
            h("dl", { class: "facts" }, params.map((p) => [h("dt", { text: p.id }), h("dd", { class: "pre", text: p.value })])));
        }
      }
      parts.push(h("p", { class: "muted", text: t("no_grantflow_props") }));
      parts.push(otherProps(props, []));
      return parts;
    }

    function renderPanel() {
      const body = byId("designer-panel-body");
      const selected = get("selection").get();
      let element = selected.length === 1 ? selected[0] : get("canvas").getRootElement();
      if (element && element.type === "label") element = element.labelTarget;
      if (!element || !element.businessObject) {
        body.replaceChildren(h("p", { class: "muted", text: t("no_process") }));
        return;
      }
      const active = document.activeElement;
      const activeName = active && body.contains(active) ? active.getAttribute("name") : null;
      const parts = panelFor(element);
      body.replaceChildren(...parts.flat().filter(Boolean));
      body.dataset.element = element.businessObject ? element.businessObject.id : "";
      if (activeName) {
        const again = body.querySelector('[name="' + CSS.escape(activeName) + '"]');
        if (again) again.focus();
      }
    }

    root.designer = { modeler, state, open, validate }; // for tests and the console
    await open(data.xml, state.dirty);
    if (state.dirty) root.dataset.dirty = "true";
  }

  // ------------------------------------------------------------------------------- diff
  async function initDiff(root) {
    const data = jsonBlob("diff-data");
    const make = (id) => new window.BpmnJS({ container: byId(id), moddleExtensions: { spiffworkflow: SPIFF_DESCRIPTOR } });
    const before = make("diff-old");
    const after = make("diff-new");
    const mark = (viewer, ids, marker) => {
      const registry = viewer.get("elementRegistry");
      const canvas = viewer.get("canvas");
      ids.forEach((id) => { if (registry.get(id)) canvas.addMarker(id, marker); });
    };
    try {
      await before.importXML(data.old_xml);
      await after.importXML(data.new_xml);
    } catch (err) {
      root.dataset.rendered = "error";
      root.append(h("p", { class: "error", text: String(err.message || err) }));
      return;
    }
    mark(before, data.removed, "gf-removed");
    mark(before, data.changed, "gf-changed");
    mark(after, data.added, "gf-added");
    mark(after, data.changed, "gf-changed");
    before.get("canvas").zoom("fit-viewport");
    after.get("canvas").zoom("fit-viewport");
    // keep both views in step while panning and zooming
    let syncing = false;
    const link = (a, b) => a.get("eventBus").on("canvas.viewbox.changed", (event) => {
      if (syncing) return;
      syncing = true;
      b.get("canvas").viewbox(event.viewbox);
      syncing = false;
    });
    link(before, after);
    link(after, before);
    // the values behind each "changed" entry: old -> new
    const describe = (viewer, id) => {
      const element = viewer.get("elementRegistry").get(id);
      if (!element || !element.businessObject) return null;
      const bo = element.businessObject;
      const out = { name: bo.name || "", ...readProps(bo) };
      if (bo.conditionExpression) out.condition = bo.conditionExpression.body || "";
      if (bo.default) out.default = bo.default.id;
      return out;
    };
    document.querySelectorAll("li.change-changed[data-element]").forEach((item) => {
      const a = describe(before, item.dataset.element);
      const b = describe(after, item.dataset.element);
      if (!a || !b) return;
      const keys = Array.from(new Set(Object.keys(a).concat(Object.keys(b))));
      const rows = keys.filter((k) => (a[k] || "") !== (b[k] || "")).map((k) => h("li", { "data-property": k },
        h("code", { text: k }), ": ", h("del", { text: a[k] || "—" }), " → ", h("ins", { text: b[k] || "—" })));
      if (!rows.length) return;
      const shown = new Set(rows.map((r) => r.dataset.property));
      const labels = item.querySelector("ul.labels");
      if (labels) {
        labels.querySelectorAll("li").forEach((li) => { if (shown.has(li.textContent.trim())) li.hidden = true; });
        labels.hidden = !labels.querySelector("li:not([hidden])");
      }
      item.append(h("ul", { class: "values" }, rows));
    });
    document.querySelectorAll("[data-focus-element]").forEach((button) => {
      button.addEventListener("click", () => {
        const id = button.dataset.focusElement;
        const viewer = after.get("elementRegistry").get(id) ? after : before;
        const element = viewer.get("elementRegistry").get(id);
        if (element) viewer.get("canvas").scrollToElement(element);
      });
    });
    root.dataset.rendered = "true";
  }

  // ------------------------------------------------------------------------ migration
  function initMigrate(root) {
    const all = root.querySelector("input[data-select-all]");
    if (!all) return;
    const boxes = () => Array.from(root.querySelectorAll("input[name=instance_id]"));
    all.hidden = false;
    all.closest("label").hidden = false;
    all.addEventListener("change", () => boxes().forEach((b) => { b.checked = all.checked; }));
    boxes().forEach((b) => b.addEventListener("change", () => {
      all.checked = boxes().every((x) => x.checked);
    }));
  }

  const root = byId("designer");
  if (!root) return;
  const page = root.dataset.page;
  if (page === "modeler" && window.BpmnJS) {
    initModeler(root).catch((err) => {
      root.dataset.ready = "error";
      const status = byId("designer-status");
      if (status) status.textContent = String(err.message || err);
    });
  } else if (page === "diff" && window.BpmnJS) {
    initDiff(root);
  } else if (page === "migrate") {
    initMigrate(root);
  }
})();
