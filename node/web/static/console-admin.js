"use strict";
// The operator console, part two: the appeals queue, scanner devices with
// their registration link as a QR, and the signing keys.
(() => {
  const $ = (id) => document.getElementById(id);
  const { state, call, say, showImage } = CON;
  let appeals = [], scanners = [], keys = [];

  async function loadAppeals() { closeResolve(); appeals = (await call("GET", "/v1/appeals")).appeals || []; renderAppeals(); }

  function statusSelect(id) {
    return HC.el("select", { id },
      HC.el("option", { value: "", text: HC.t("console.keep_status") }),
      ...["green", "yellow", "red"].map((s) => HC.el("option", { value: s, text: HC.statusWord(s) })));
  }

  function renderAppeals() {
    const ul = $("appeal-list");
    HC.clear(ul);
    if (!appeals.length) { ul.append(HC.el("li", { class: "muted", text: HC.t("console.no_appeals") })); return; }
    for (const a of appeals) {
      const p = "ap-" + a.id + "-";
      const form = HC.el("form", { class: "inline" },
        HC.el("label", { for: p + "outcome", text: HC.t("console.outcome") }),
        HC.el("select", { id: p + "outcome" }, HC.el("option", { value: "upheld", text: HC.t("appeal.upheld") }),
          HC.el("option", { value: "rejected", text: HC.t("appeal.rejected") })),
        HC.el("label", { for: p + "status", text: HC.t("console.new_status") }), statusSelect(p + "status"),
        HC.el("label", { for: p + "note", text: HC.t("console.note") }), HC.el("input", { id: p + "note", required: true, maxlength: "500" }),
        HC.el("button", { type: "submit", text: HC.t("console.resolve") }));
      form.addEventListener("submit", (ev) => askResolve(ev, a, p));
      // Editing the decision takes back the question asked about it.
      form.addEventListener("input", () => { if (resolving && resolving.a.id === a.id) closeResolve(); });
      // A status set after the filing: the appeal may dispute a status
      // that is no longer the resident's (the node refused it once).
      const changed = a.status_changed ? [HC.el("p", { class: "warn", "data-status-changed": "",
        text: HC.t("console.appeal_status_changed", { status: HC.statusWord(a.subject_status), when: HC.fmtTime(a.subject_status_since) }) })] : [];
      ul.append(HC.el("li", { "data-appeal": a.id },
        HC.el("p", { text: HC.t("console.appeal_item", { when: HC.fmtTime(a.created), subject: a.subject_id, status: HC.statusWord(a.subject_status) }) }),
        ...changed, HC.el("blockquote", { text: a.message }), form));
    }
  }

  // askResolve asks before an appeal is resolved, saying what the
  // decision does to the resident's status and codes (ResolveAppeal: a
  // status other than theirs is set as SetStatus sets it, every live code
  // revoked; their own status, or a rejection, changes nothing) and that
  // it is final: the node never reopens a resolved appeal. The question's
  // button has the focus: Enter confirms, Esc cancels. resolving is the
  // decision asked about.
  let resolving = null;
  function askResolve(ev, a, p) {
    ev.preventDefault();
    const body = { outcome: $(p + "outcome").value, note: $(p + "note").value };
    if ($(p + "status").value) body.status = $(p + "status").value;
    // An upheld appeal changes the status (the node refuses one that does
    // not), a rejected one keeps it (the node refuses one that names one).
    if (body.outcome === "upheld" && !body.status) { say("appeal-result", "console.upheld_needs_status"); $(p + "status").focus(); return; }
    if (body.outcome === "rejected" && body.status) { say("appeal-result", "console.rejected_keeps_status"); $(p + "status").focus(); return; }
    if (a.status_changed) body.subject_status_since = a.subject_status_since;
    say("appeal-result", "");
    resolving = { a, body, p };
    const from = a.subject_status, to = body.status;
    const key = body.outcome === "rejected" ? "console.appeal_confirm_reject" : to === from ? "console.appeal_confirm_keep" : "console.appeal_confirm_change";
    say("appeal-confirm-text", key, { subject: a.subject_id, status: () => HC.statusWord(from),
      from: () => HC.statusWord(from), to: () => HC.statusWord(to) });
    $("appeal-confirm").hidden = false;
    $("appeal-yes").focus();
  }

  function closeResolve() { resolving = null; $("appeal-confirm").hidden = true; say("appeal-confirm-text", ""); }

  // resolve sends the decision asked about (resolving) with the time of
  // the resident's status the operator saw: the node refuses it
  // (appeal_stale) if the status was set after that, or, for an appeal
  // marked changed, after the filing unless that time is named — so the
  // queue is read again and shown. The question stays, its Yes disabled
  // (HC.once), until the answer (as setStatus).
  async function resolve() {
    if (!resolving) return;
    const { a, body } = resolving;
    try {
      await call("PUT", "/v1/appeals/" + encodeURIComponent(a.id), body);
      say("appeal-result", "console.resolved");
      await loadAppeals();
    } catch (e) {
      closeResolve();
      say("appeal-result", e);
      if (e instanceof HC.APIError && e.code === "appeal_stale") await loadAppeals();
    }
  }

  async function loadScanners() { scanners = (await call("GET", "/v1/scanners")).scanners || []; renderScanners(); }

  function renderScanners() {
    const tb = $("scanner-table").querySelector("tbody");
    HC.clear(tb);
    for (const s of scanners) {
      const remove = HC.el("button", { type: "button", class: "danger", text: HC.t("console.scanner_remove"),
        "aria-label": HC.t("console.scanner_remove") + " " + s.name });
      remove.addEventListener("click", () => askRemove(s));
      tb.append(HC.el("tr", { "data-scanner": s.id }, HC.el("td", { text: s.name }), HC.el("td", { text: HC.place(s.place) }),
        HC.el("td", { text: HC.fmtTime(s.created) }),
        HC.el("td", {}, remove)));
    }
  }

  // askRemove asks before a scanner is removed, saying what the device
  // will show and that it cannot be undone (as 'hcnode scanner remove'
  // does without --yes); removing is the scanner asked about (removing).
  let removing = null;
  function askRemove(s) {
    removing = s;
    say("scanner-remove-text", "console.scanner_remove_confirm", { name: s.name });
    $("scanner-remove-confirm").hidden = false;
    $("scanner-remove-no").focus();
  }

  function closeRemove() { removing = null; $("scanner-remove-confirm").hidden = true; say("scanner-remove-text", ""); }

  async function removeScanner() {
    const s = removing;
    if (!s) return;
    try {
      await call("DELETE", "/v1/scanners/" + encodeURIComponent(s.id));
      closeRemove();
      say("scanner-result", "console.scanner_removed", { name: s.name });
      await loadScanners();
    } catch (e) { closeRemove(); say("scanner-result", e); }
  }

  async function addScanner(ev) {
    ev.preventDefault();
    try {
      const out = await call("POST", "/v1/scanners", { name: $("sc-name").value, place: $("sc-place").value });
      $("sc-name").value = "";
      $("scanner-url").textContent = out.scanner_url;
      showImage($("scanner-qr"), await call("POST", "/v1/qr", { url: out.scanner_url }));
      $("scanner-link").hidden = false;
      say("scanner-result", "console.scanner_added");
      await loadScanners();
    } catch (e) { say("scanner-result", e); }
  }

  async function loadKeys() { keys = (await call("GET", "/v1/keys")).keys || []; renderKeys(); }

  function renderKeys() {
    const tb = $("key-table").querySelector("tbody");
    HC.clear(tb);
    for (const k of keys) {
      tb.append(HC.el("tr", { "data-kid": k.kid }, HC.el("td", {}, HC.el("code", { title: k.kid, text: k.kid.slice(0, 12) + "…" })),
        HC.el("td", { class: "key-" + k.state, text: HC.t("key." + k.state) }),
        HC.el("td", { text: HC.fmtTime(k.nbf) }), HC.el("td", { text: HC.fmtTime(k.exp) })));
    }
  }

  function wire() {
    $("appeal-yes").addEventListener("click", HC.once($("appeal-yes"), resolve, () => [...$("appeal-list").querySelectorAll("button")]));
    const cancel = () => { const r = resolving; closeResolve(); if (r && $(r.p + "outcome")) $(r.p + "outcome").focus(); };
    $("appeal-no").addEventListener("click", cancel);
    $("appeal-confirm").addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.preventDefault(); cancel(); } });
    $("scanner-form").addEventListener("submit", HC.once($("scanner-form"), addScanner));
    $("scanner-remove-yes").addEventListener("click", HC.once($("scanner-remove-yes"), removeScanner, () => [...$("scanner-table").querySelectorAll("button")]));
    $("scanner-remove-no").addEventListener("click", closeRemove);
    // The node refuses a rotation to an operator who is no admin
    // (admin_required); the console says so instead of offering it.
    const admin = state.me.account_role === "admin";
    $("rotate-btn").hidden = !admin;
    $("rotate-admin-only").hidden = admin;
    $("rotate-btn").addEventListener("click", () => { $("rotate-confirm").hidden = false; $("rotate-yes").focus(); });
    $("rotate-no").addEventListener("click", () => { $("rotate-confirm").hidden = true; });
    $("rotate-yes").addEventListener("click", HC.once($("rotate-yes"), async () => {
      try {
        keys = (await call("POST", "/v1/keys/rotate")).keys || [];
        renderKeys();
        $("rotate-confirm").hidden = true;
        say("key-result", "console.rotated");
      } catch (e) { say("key-result", e); }
    }, () => [$("rotate-btn")]));
  }

  CON.onStart.push(async () => {
    wire();
    // What an operator typed into an appeal's form outlives the switch.
    HC.onLang(() => { HC.keepTyped($("appeal-list"), renderAppeals); renderScanners(); renderKeys(); });
    await Promise.all([loadAppeals(), loadScanners(), loadKeys()]);
  });
})();
