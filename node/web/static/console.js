"use strict";
// The operator console, part one: the session, the federation table
// (refreshed every few seconds) and residents: enrolment with the consent
// screen, status, paper code, the wallet link as a QR, a new wallet link
// for a lost phone, deletion, signing out. The operator token is kept for
// this tab only (sessionStorage).
const CON = (() => {
  const $ = (id) => document.getElementById(id);
  // PREFIX begins every key the console keeps (in sessionStorage: KEY),
  // all forgotten at sign-out.
  const PREFIX = "hcfed.console.", KEY = PREFIX + "token";
  // FED_EVERY is how often the federation table refreshes, FED_WITHIN how
  // long a refresh may take before it is given up (on a dead connection
  // one was begun every five seconds, each hung, until the browser's few
  // connections to the node were all taken and the operator's own calls
  // waited behind them); TRUST_WARN how close to expiry the trust list is
  // shown in the warning colour.
  const FED_EVERY = 5000, FED_WITHIN = 10000, TRUST_WARN = 7 * 24 * 3600;
  const state = { token: null, me: null, notice: null, fed: null, subject: null, blobs: {} };
  const call = (method, path, body) => HC.api(method, path, state.token, body);

  // showImage puts a fetched PNG into an img, releasing the last one.
  function showImage(img, blob) {
    if (state.blobs[img.id]) URL.revokeObjectURL(state.blobs[img.id]);
    state.blobs[img.id] = URL.createObjectURL(blob);
    img.src = state.blobs[img.id];
  }

  // dropImage empties an img that showImage filled and releases its PNG.
  function dropImage(img) {
    if (state.blobs[img.id]) { URL.revokeObjectURL(state.blobs[img.id]); delete state.blobs[img.id]; }
    img.removeAttribute("src");
  }

  // forgetEnrolled takes the last enrolment's wallet link off the page
  // once the operator moves on (the next enrolment begun, another
  // resident opened): the link is the resident's key to their wallet,
  // shown to them once, not to whoever comes to the counter next.
  function forgetEnrolled() {
    $("enrolled").hidden = true;
    $("enrolled-id").textContent = "";
    $("wallet-link").textContent = "";
    dropImage($("wallet-qr"));
  }

  // say shows a result sentence (a message key and its parameters, or an
  // error) that follows a language switch (HC.say).
  function say(id, what, vars) { HC.say($(id), what, vars); }

  // loadFed refreshes the federation table, one refresh at a time; a
  // failed refresh is said in the trust line (the table keeps the last
  // answer) until one succeeds.
  let fedBusy = false;
  async function loadFed() {
    if (fedBusy) return;
    fedBusy = true;
    try {
      state.fed = await HC.api("GET", "/v1/federation", null, undefined, FED_WITHIN);
      state.fedErr = null;
    } catch (e) {
      if (!state.fed) throw e;
      state.fedErr = e;
    } finally {
      fedBusy = false;
    }
    renderFed();
  }

  // warningText says a federation warning in the console's language from
  // its code (warning.<code>), a time in the operator's locale and a
  // province by its name; a code this console has no sentence for is said
  // in the node's English words.
  function warningText(w, f) {
    const key = "warning." + w.code;
    if (!w.code || HC.t(key) === key) return HC.inEnglish(w.text);
    const p = Object.assign({}, w.params);
    if (p.expires) p.expires = HC.fmtTime(p.expires);
    if (p.since) p.since = HC.fmtTime(p.since);
    if (p.province) {
      const m = (f.members || []).find((x) => x.id === p.province);
      p.province = HC.province(p.province, m && m.name) + " (" + p.province + ")";
    }
    return HC.t(key, p);
  }

  function renderFed() {
    const f = state.fed;
    if (!f) return;
    const tb = $("fed-table").querySelector("tbody");
    HC.clear(tb);
    const labels = [...$("fed-table").querySelectorAll("thead th")].map((th) => th.textContent);
    for (const m of f.members || []) {
      const hb = m.heartbeat;
      const states = HC.list(Object.entries(m.key_states || {}).sort().map(([st, n]) => HC.t("fed.key_count", { n, state: HC.t("key." + st) })));
      const row = HC.el("tr", { "data-province": m.id, class: m.stale ? "row-warn" : "" },
        HC.el("th", { scope: "row", text: HC.province(m.id, m.name) + " (" + m.id + ")" + (m.id === f.self ? " ★" : "") }),
        HC.el("td", { text: HC.t("member." + m.status) }),
        HC.el("td", { class: m.keyset_expires_soon ? "warn" : "", text: "v" + m.keyset_version +
          (m.keyset_expires ? " · " + HC.t("fed.until", { when: HC.fmtTime(m.keyset_expires) }) : "") +
          (m.keyset_expires_soon ? " ⚠ " + HC.t("fed.expires_soon") : "") + (states ? " · " + HC.t("fed.keys", { states }) : "") }),
        HC.el("td", { text: (m.content_keys || []).map((k) => k.split("/").pop()).join(", ") || "—" }),
        HC.el("td", { class: m.revocation_lag ? "warn" : "", text: m.revocation_seq + " / " + m.revocation_lag }),
        HC.el("td", { text: hb ? HC.t("fed.age", { s: Math.round(hb.age_seconds) }) + " · " + HC.t("fed.hb_detail", { ks: hb.keyset_version, tl: hb.trustlist_version }) : "—" }),
        HC.el("td", { class: m.stale ? "warn" : "ok", text: m.stale ? "⚠ " + HC.t("fed.stale") : "✓ " + HC.t("fed.fresh_yes") }));
      [...row.children].forEach((c, i) => c.setAttribute("data-label", labels[i] || ""));
      tb.append(row);
    }
    const tl = f.trust_list;
    const info = $("trust-info");
    HC.say(info, state.fedErr);
    if (state.fedErr) {
      info.className = "warn";
    } else if (tl) {
      const left = (new Date(tl.expires) - Date.now()) / 1000;
      info.className = left < TRUST_WARN || tl.expires_soon ? "warn" : "";
      info.textContent = HC.t("fed.trust", { fed: tl.federation, version: tl.version, threshold: tl.threshold,
        left: HC.t("fed.days", { d: (left / 86400).toFixed(1) }), when: HC.fmtTime(tl.expires) }) +
        (info.className ? " ⚠ " + HC.t("fed.expires_soon") : "") + " · " + HC.t(f.connected ? "fed.connected" : "fed.not_connected");
    } else {
      info.className = "warn";
      info.textContent = "⚠ " + HC.t("fed.no_trust");
    }
    // The banner's text is set only when it changes, so that a screen
    // reader announces it once, not at every refresh.
    const sb = $("suspended-banner");
    const sbText = f.self_suspended ? "⚠ " + HC.t("fed.self_suspended", { id: f.self, version: tl ? tl.version : "?" }) : "";
    if (sb.textContent !== sbText) sb.textContent = sbText;
    sb.hidden = !f.self_suspended;
    const w = $("fed-warnings");
    HC.clear(w);
    const ws = f.warning_details || (f.warnings || []).map((text) => ({ text }));
    for (const x of ws) {
      const s = warningText(x, f), li = HC.el("li", { class: "warn", "data-warning": x.code || "", text: "⚠ " + s });
      HC.mark(li, s); // the node's English words, for a code without a sentence
      w.append(li);
    }
    $("fed-time").textContent = HC.fmtTime(new Date());
  }

  function renderNotice() {
    const n = state.notice;
    const nt = n.text[HC.lang] || HC.inEnglish(n.text.en); // no text in the language: English, said so
    $("consent-notice").textContent = nt;
    HC.mark($("consent-notice"), nt);
    $("consent-version").textContent = HC.t("console.notice_version", { version: n.version,
      fields: HC.list(n.collected.map((f) => HC.t("field." + f))) });
    $("en-phone-row").hidden = !n.collected.includes("phone");
  }

  async function enrol(ev) {
    ev.preventDefault();
    const body = { name: $("en-name").value, id_number: $("en-id").value, status: $("en-status").value,
      consent: { notice_version: state.notice.version, accepted: $("en-consent").checked } };
    if (!$("en-phone-row").hidden && $("en-phone").value) body.phone = $("en-phone").value;
    try {
      const out = await call("POST", "/v1/subjects", body);
      // The personal data leaves this page as soon as it has been sent.
      $("enrol-form").reset();
      say("enrol-result", "console.enrol_done");
      $("enrolled-id").textContent = out.id;
      $("wallet-link").textContent = out.wallet_url;
      showImage($("wallet-qr"), await call("POST", "/v1/qr", { url: out.wallet_url }));
      $("enrolled").hidden = false;
      $("recent-ids").append(HC.el("option", { value: out.id }));
      $("subject-id").value = out.id;
    } catch (e) { say("enrol-result", e); }
  }

  async function openSubject(ev) {
    if (ev) ev.preventDefault();
    const id = $("subject-id").value.trim();
    // The resident shown before goes while another is fetched: a button
    // pressed meanwhile (a new wallet link, a deletion, withdrawing paper
    // codes) would act on them, not on the resident asked for.
    $("subject").hidden = true;
    $("paper").hidden = true;
    dropImage($("paper-img"));
    if (id !== $("enrolled-id").textContent) forgetEnrolled();
    $("paper-withdraw-confirm").hidden = true;
    closeStatus();
    closeToken();
    state.subject = null;
    try {
      state.subject = await call("GET", "/v1/subjects/" + encodeURIComponent(id));
      renderSubject();
      // The status they have is offered: a change is chosen, not defaulted.
      $("st-status").value = state.subject.status;
      $("subject").hidden = false;
      say("subject-result", "");
    } catch (e) { $("subject").hidden = true; say("subject-result", e); }
  }

  function renderSubject() {
    const r = state.subject;
    if (!r) return;
    const dl = $("subject-record");
    HC.clear(dl);
    const add = (k, v) => dl.append(HC.el("dt", { text: k }), HC.el("dd", { text: v }));
    add(HC.t("console.subject_id"), r.id);
    add(HC.t("wallet.status"), HC.statusWord(r.status) + " · " + HC.fmtTime(r.status_since));
    if (r.status_unconfirmed) add(HC.t("status.unconfirmed"), HC.t("console.status_unconfirmed"));
    for (const [k, v] of Object.entries(r.held || {})) add(HC.t("field." + k), v);
    add(HC.t("console.consent"), HC.t("wallet.notice_meta", { version: r.consent.notice_version, when: HC.fmtTime(r.consent.accepted_at) }));
    add(HC.t("wallet.retain_until"), HC.fmtTime(r.retain_until));
  }

  // TOKEN_ERRORS names, for the refusals a new wallet link meets at the
  // counter, the sentence that says what to do (HC.errorText for others).
  const TOKEN_ERRORS = { invalid: "console.token_invalid", forbidden: "console.token_forbidden",
    not_found: "console.token_not_found" };

  // closeToken hides the new-wallet-link form and forgets the last link
  // shown: it is shown once, to the resident it was made for.
  function closeToken() {
    $("token-form").hidden = true;
    $("tk-id").value = "";
    $("token-new").hidden = true;
    $("token-link").textContent = "";
    dropImage($("token-qr"));
    say("token-result", "");
  }

  function openToken() {
    closeToken();
    // The ID number is asked for when the record holds one (the node checks it).
    const held = !!(state.subject.held || {}).masked_id_number;
    $("tk-id-row").hidden = !held;
    $("tk-id").required = held;
    $("token-form").hidden = false;
    (held ? $("tk-id") : $("token-form").querySelector("button[type=submit]")).focus();
  }

  // newToken replaces the resident's token (a lost or seen phone) and
  // shows the new wallet link as a QR for the new phone. The ID number
  // leaves the page with the call: the field is cleared before it is made.
  async function newToken(ev) {
    ev.preventDefault();
    const id = state.subject.id, body = {};
    if (!$("tk-id-row").hidden) body.id_number = $("tk-id").value;
    $("tk-id").value = "";
    try {
      const out = await call("POST", "/v1/subjects/" + encodeURIComponent(id) + "/token", body);
      $("token-form").hidden = true;
      $("token-link").textContent = out.wallet_url;
      showImage($("token-qr"), await call("POST", "/v1/qr", { url: out.wallet_url }));
      $("token-new").hidden = false;
      say("token-result", "console.token_done", { n: out.revoked });
    } catch (e) {
      say("token-result", e instanceof HC.APIError && HC.own(TOKEN_ERRORS, e.code) ? TOKEN_ERRORS[e.code] : e);
    }
  }

  // whoOf names a resident as the console shows them: masked.
  function whoOf(r) {
    const h = r.held || {};
    return [h.masked_name, h.masked_id_number].filter(Boolean).join(" · ") || r.id;
  }

  // askStatus asks before a status is set, naming the resident and the
  // change, and saying that every live code of theirs is revoked for good
  // (the node revokes them at any status set, to green and to the status
  // they have too: store.SetStatus). Only a status to be confirmed since
  // a restore, set to the one shown, is set without asking: it is the
  // routine work the console asks for after a restore (the node issues
  // such a resident no code until then). The question's button has the
  // focus: Enter confirms, Esc cancels. settingStatus is the change asked
  // about.
  let settingStatus = null;
  function askStatus(ev) {
    ev.preventDefault();
    const r = state.subject;
    if (!r) return;
    const s = { id: r.id, body: { status: $("st-status").value, reason: $("st-reason").value } };
    const to = s.body.status, from = r.status;
    settingStatus = s;
    if (to === from && r.status_unconfirmed) { sendStatus(); return; }
    const key = to === from ? "console.status_confirm_same" : to === "green" ? "console.status_confirm_green" : "console.status_confirm_change";
    say("status-confirm-text", key, { who: whoOf(r), from: () => HC.statusWord(from), to: () => HC.statusWord(to) });
    $("status-confirm").hidden = false;
    $("status-yes").focus();
  }

  function closeStatus() { settingStatus = null; $("status-confirm").hidden = true; say("status-confirm-text", ""); }

  // setStatus sends the status change asked about (settingStatus) and
  // reads the record again; sendStatus does it once at a time. The
  // question stays, its Yes disabled (HC.once), until the answer: taken
  // away at once, the second click of a double-click on Yes fell on
  // whatever moved up into its place.
  async function setStatus() {
    const s = settingStatus;
    if (!s) return;
    try {
      await call("PUT", "/v1/subjects/" + encodeURIComponent(s.id) + "/status", s.body);
      $("st-reason").value = "";
      await openSubject();
      say("subject-result", "console.status_done");
    } catch (e) { closeStatus(); say("subject-result", e); }
  }

  let sendStatus;
  function wireResidents() {
    sendStatus = HC.once($("status-form"), setStatus, () => [$("status-yes")]);
    $("enrol-form").addEventListener("submit", HC.once($("enrol-form"), enrol));
    $("enrol-form").addEventListener("input", forgetEnrolled);
    $("find-form").addEventListener("submit", openSubject);
    $("status-form").addEventListener("submit", askStatus);
    // Editing the form takes back the question: what is confirmed is what is sent.
    $("status-form").addEventListener("input", closeStatus);
    $("status-yes").addEventListener("click", () => sendStatus());
    $("status-no").addEventListener("click", () => { closeStatus(); $("st-status").focus(); });
    $("status-confirm").addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.preventDefault(); closeStatus(); $("st-status").focus(); } });
    $("paper-btn").addEventListener("click", HC.once($("paper-btn"), async () => {
      try {
        const c = await call("POST", "/v1/subjects/" + encodeURIComponent(state.subject.id) + "/codes", { paper: true });
        showImage($("paper-img"), await call("GET", "/v1/codes/" + encodeURIComponent(c.jti) + "/paper.png"));
        $("paper").hidden = false;
      } catch (e) { say("subject-result", e); }
    }));
    // A lost or stolen paper code: withdraw the resident's paper codes at
    // every province; their phone codes stay valid.
    $("paper-withdraw").addEventListener("click", () => { $("paper-withdraw-confirm").hidden = false; $("paper-withdraw-yes").focus(); });
    $("paper-withdraw-no").addEventListener("click", () => { $("paper-withdraw-confirm").hidden = true; });
    $("paper-withdraw-yes").addEventListener("click", HC.once($("paper-withdraw-yes"), async () => {
      try {
        const out = await call("DELETE", "/v1/subjects/" + encodeURIComponent(state.subject.id) + "/paper-codes");
        $("paper-withdraw-confirm").hidden = true;
        $("paper").hidden = true;
        dropImage($("paper-img"));
        say("subject-result", "console.paper_withdrawn", { n: out.revoked });
      } catch (e) { say("subject-result", e); }
    }, () => [$("paper-withdraw")]));
    $("token-start").addEventListener("click", openToken);
    $("token-no").addEventListener("click", closeToken);
    $("token-form").addEventListener("submit", HC.once($("token-form"), newToken, () => [$("token-start")]));
    $("print-btn").addEventListener("click", () => { document.body.classList.add("printing"); window.print(); document.body.classList.remove("printing"); });
    $("subject-delete").addEventListener("click", () => { $("subject-delete-confirm").hidden = false; $("subject-delete-yes").focus(); });
    $("subject-delete-no").addEventListener("click", () => { $("subject-delete-confirm").hidden = true; });
    $("subject-delete-yes").addEventListener("click", HC.once($("subject-delete-yes"), async () => {
      try {
        await call("DELETE", "/v1/subjects/" + encodeURIComponent(state.subject.id));
        $("subject").hidden = true;
        $("subject-delete-confirm").hidden = true;
        closeToken();
        say("subject-result", "console.deleted");
      } catch (e) { say("subject-result", e); }
    }, () => [$("subject-delete")]));
  }

  // wireSession offers signing out: this tab forgets the operator token
  // and everything shown (HC.forget loads the console anew, in its
  // first-run state). The token is not revoked at the node.
  function wireSession() {
    $("sign-out").addEventListener("click", () => { $("sign-out-confirm").hidden = false; $("sign-out-no").focus(); });
    $("sign-out-no").addEventListener("click", () => { $("sign-out-confirm").hidden = true; $("sign-out").focus(); });
    $("sign-out-yes").addEventListener("click", () => {
      clearInterval(fedTimer);
      Object.values(state.blobs).forEach((u) => URL.revokeObjectURL(u));
      state.token = null;
      HC.forget(PREFIX);
    });
  }

  const onStart = [];
  let fedTimer;
  HC.start(async () => {
    const gone = HC.forgotten();
    state.token = HC.takeToken(sessionStorage, KEY);
    if (!state.token) {
      HC.fatal("fatal.no_link_title", "fatal.no_link_console");
      if (gone) HC.say($("fatal-detail"), "console.signed_out");
      return;
    }
    state.me = await call("GET", "/v1/whoami");
    // A feed account's token (the health platform's) may only send
    // statuses: the console says so rather than "a different page".
    if (state.me.role === "feed") { HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.feed_role"); return; }
    if (state.me.role !== "operator") { HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.wrong_role"); return; }
    HC.keepToken();
    const showSelf = () => { $("self").textContent = HC.province(state.me.province, state.me.province_name) + " " + state.me.province; };
    showSelf();
    [state.notice] = await Promise.all([HC.api("GET", "/v1/privacy"), loadFed()]);
    renderNotice();
    wireResidents();
    wireSession();
    $("main").hidden = false;
    fedTimer = setInterval(loadFed, FED_EVERY);
    HC.onLang(() => { showSelf(); renderFed(); renderNotice(); renderSubject(); });
    await Promise.all(onStart.map((f) => f()));
  });

  return { state, call, say, showImage, onStart };
})();
