"use strict";
// The traveler's wallet: the resident's own code as a QR framed in its
// status colour, a running clock and countdown, a fresh code before the
// old one expires, and the resident's rights: the notice, appeals, where
// the codes were checked, identity lookups, deletion. The resident token
// comes in the link's fragment and is kept on this phone only.
(() => {
  const $ = (id) => document.getElementById(id);
  // PREFIX begins every key the wallet keeps on the phone (in
  // localStorage: KEY, CODE_KEY), all forgotten with the device.
  const PREFIX = "hcfed.wallet.", KEY = PREFIX + "token";
  // CODE_KEY keeps the code shown last (its id, expiry and image path:
  // no code text, nothing personal), so that opening the wallet again
  // shows that code while it lives instead of issuing one each time: a
  // resident holds at most codes.max_live live codes.
  const CODE_KEY = PREFIX + "code";
  // REFRESH_BEFORE is how long before expiry a new code is fetched;
  // POLL_EVERY how often the status is checked, so that a change made by
  // the health authority shows within seconds (and at once when the page
  // is shown again, focused or back online: again).
  const REFRESH_BEFORE = 300, POLL_EVERY = 5000;
  // RETRY_FIRST and RETRY_MAX pace calls to the node after one failed
  // (no network, the node down): the next waits RETRY_FIRST ms, then
  // twice as long after each failure, up to RETRY_MAX, where an offline
  // phone called every second. A success, the network coming back or the
  // page shown again starts over at once.
  const RETRY_FIRST = 1000, RETRY_MAX = 60000;
  // CALL_WITHIN is how long a call the page makes by itself (the start,
  // a poll, a new code) may take before it is given up as not reaching
  // the node: one that hung on a dead connection (a phone moving between
  // cells) held every later poll and refresh until the system gave up on
  // it many minutes later, and the code ran out meanwhile. What the
  // resident asks for (an appeal, a deletion) is waited for.
  const CALL_WITHIN = 20000;
  const get = (path, auth) => HC.api("GET", path, auth === undefined ? token : auth, undefined, CALL_WITHIN);
  let token, me, record, notice, code, qrURL, fed;

  function cleanup() { if (qrURL) URL.revokeObjectURL(qrURL); qrURL = null; }

  async function newCode() {
    const c = await HC.api("POST", "/v1/subjects/" + encodeURIComponent(me.subject_id) + "/codes", token, undefined, CALL_WITHIN);
    await display(c);
    // Kept only beside the token: a code that came after the device
    // forgot the wallet (here or in another tab) is not written back.
    if (localStorage.getItem(KEY)) localStorage.setItem(CODE_KEY, JSON.stringify({ subject: me.subject_id, jti: c.jti, exp: c.exp, qr_url: c.qr_url }));
  }

  // display shows a code; its image is refused (404) once it is revoked
  // or expired.
  async function display(c) {
    const png = await get(c.qr_url);
    code = c;
    cleanup();
    qrURL = URL.createObjectURL(png);
    $("qr").src = qrURL;
    $("qr").dataset.jti = code.jti;
    renderStatus();
  }

  // firstCode shows the code kept from the last visit if the node still
  // serves it and it has a while to run; otherwise it issues a new one.
  async function firstCode() {
    let kept = null;
    try { kept = JSON.parse(localStorage.getItem(CODE_KEY) || "null"); } catch (_) { /* not ours: issue anew */ }
    if (kept && kept.subject === me.subject_id && typeof kept.qr_url === "string" && kept.qr_url.startsWith("/v1/codes/") &&
        kept.exp - Date.now() / 1000 > REFRESH_BEFORE) {
      try {
        await display(kept);
        return;
      } catch (e) {
        if (!(e instanceof HC.APIError && e.status === 404)) throw e;
      }
    }
    await newCode();
  }

  // setText writes s into el only where it differs: the status word is a
  // live region, and a screen reader says it again at every rewrite, even
  // of the same word (every poll, every second).
  function setText(el, s) { if (el.textContent !== s) el.textContent = s; }

  // expired: the code shown has run out, its refresh having failed (no
  // network, the node down); it is no longer shown as the status.
  function expired() { return !!code && code.exp <= Date.now() / 1000; }

  // withdrawn: the code shown was withdrawn at the node (poll) and no new
  // one could be fetched yet; it is no longer shown as the status.
  function withdrawn() { return !!code && code.jti === dead; }

  // unconfirmed: the node was restored from a backup and holds a status
  // for this resident that the health authority must set again; no code
  // is issued until then, and the colour held is not shown as theirs.
  function unconfirmed() { return !!record && !!record.status_unconfirmed; }

  function renderStatus() {
    const st = record ? record.status : "";
    const over = expired(), held = unconfirmed(), gone = !over && !held && withdrawn();
    const cls = "qr-frame status-" + (held ? "none" : over || gone ? "expired" : st || "none");
    if ($("qr-frame").className !== cls) $("qr-frame").className = cls;
    setText($("status-word"), held ? HC.t("status.unconfirmed") : over ? HC.t("wallet.expired") :
      gone ? HC.t("wallet.withdrawn") : HC.statusWord(st));
    setText($("masked-name"), maskName((record && record.held && record.held.name) || ""));
    setText($("province"), HC.province(me.province, me.province_name));
  }

  // maskName shows the first character only, as scanners see it.
  function maskName(n) { const c = Array.from(n.trim()); return c.length ? c[0] + "*" : ""; }

  // pace is one kind of call to the node, held back after failures by
  // the page's clock; a clock set back by more than RETRY_MAX (corrected
  // by its owner) does not hold it for longer.
  function pace() {
    let wait = 0, at = 0;
    return {
      due() { const now = Date.now(); return now >= at || at - now > RETRY_MAX; },
      failed() { wait = Math.min(RETRY_MAX, wait ? wait * 2 : RETRY_FIRST); at = Date.now() + wait; },
      reset() { wait = 0; at = 0; },
    };
  }
  const refreshing = pace(), polling = pace();

  // withdraw stops showing the code: the node revoked it, or holds the
  // resident's status unconfirmed and issues none.
  function withdraw() {
    code = null;
    cleanup();
    $("qr").removeAttribute("src");
    delete $("qr").dataset.jti;
    $("countdown").textContent = "";
    localStorage.removeItem(CODE_KEY);
  }

  function tick() {
    $("clock").textContent = HC.fmtTime(new Date());
    if (!code) return;
    const left = code.exp - Date.now() / 1000;
    $("countdown").textContent = HC.fmtDuration(left);
    renderStatus();
    if (left < REFRESH_BEFORE && !tick.busy && refreshing.due()) {
      tick.busy = true;
      newCode().then(() => { refreshing.reset(); note("wallet.refreshed"); })
        .catch((e) => { refreshing.failed(); showErr(e); }).finally(() => { tick.busy = false; });
    }
  }

  // stop ends the clock and the polling: the page has nothing left to show.
  const timers = [], listening = new AbortController();
  function stop() { timers.forEach(clearInterval); listening.abort(); cleanup(); }

  // note writes into the code note only a sentence that differs from the
  // one it shows: the same failure at each retry is not written (and said
  // by a screen reader) again.
  function note(what, vars) {
    const s = what instanceof Error ? HC.errorText(what) : HC.t(what, vars);
    if ($("code-note").textContent !== s) HC.say($("code-note"), what, vars);
  }

  function showErr(e) {
    if (e instanceof HC.APIError && e.status === 401) { stop(); HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.bad_link"); return; }
    note(e);
  }

  // again calls the node at once, failures forgotten: the network is
  // back, or the resident looks at the page again (shown again, or
  // focused), and wants the status of now, not of up to POLL_EVERY ago.
  function again() {
    if (document.visibilityState !== "visible") return;
    refreshing.reset();
    polling.reset();
    tick();
    pollNow();
  }

  // pollNow polls unless a poll is on its way or failures hold polling
  // back: one poll at a time, however many reasons (the interval, the
  // page shown, focused, back online) come while it is answered.
  let polled = null;
  function pollNow() {
    if (polled || !polling.due()) return;
    polled = poll().then(polling.reset, (e) => { polling.failed(); showErr(e); }).finally(() => { polled = null; });
  }

  // poll reloads the record. A status set again — changed, or set to
  // the colour it had (status_since moves) — revoked every live code at
  // the node, the one shown too; and a code shown that is no longer among
  // the record's live_codes was withdrawn some other way (its signing key
  // marked compromised, a revocation that left the status as it was: each
  // has its sentence, the record listing the codes of compromised keys). A
  // new code is fetched at once, and again at the next poll if that
  // failed (renewing names the sentence to say); until then the code
  // shown is marked not valid (dead), never left framed in its colour.
  // Only a code shown before the record was asked for, and not near its
  // expiry (the clock renews those), is judged by it: a code fetched
  // meanwhile is not yet in a record read before it.
  let renewing = null, dead = null;
  async function poll() {
    const prev = record;
    const shown = code && code.exp - Date.now() / 1000 > REFRESH_BEFORE ? code.jti : null;
    record = await get("/v1/subjects/" + encodeURIComponent(me.subject_id));
    if (prev && (prev.status !== record.status || prev.status_since !== record.status_since ||
        !!prev.status_unconfirmed !== unconfirmed())) {
      renewing = prev.status !== record.status || renewing === "wallet.status_changed" ? "wallet.status_changed" : "wallet.status_set_again";
    } else if (!renewing && shown && code.jti === shown && Array.isArray(record.live_codes) && !record.live_codes.includes(shown)) {
      renewing = (record.key_compromised_codes || []).includes(shown) ? "wallet.code_key_withdrawn" : "wallet.code_withdrawn";
    }
    if (unconfirmed()) {
      // Restored from a backup: the code shown was revoked; none is
      // issued until the status is set again (a later poll renews).
      if (code) withdraw();
      renewing = null; // the poll that sees the status set again renews
      note("wallet.status_unconfirmed");
    } else if (renewing) {
      const was = code && code.jti;
      try {
        await newCode();
      } catch (e) {
        dead = was;
        renderStatus();
        throw e;
      }
      const st = record.status, key = renewing;
      renewing = null;
      note(key, { status: () => HC.statusWord(st) });
      if (key !== "wallet.code_withdrawn" && key !== "wallet.code_key_withdrawn") loadLists().catch(showErr);
    }
    renderStatus();
    renderHeld();
  }

  function renderHeld() {
    const dl = $("held");
    HC.clear(dl);
    for (const [k, v] of Object.entries(record.held || {})) dl.append(HC.el("dt", { text: HC.t("field." + k) }), HC.el("dd", { text: v }));
    dl.append(HC.el("dt", { text: HC.t("wallet.status") }), HC.el("dd", { text: unconfirmed() ? HC.t("status.unconfirmed") : HC.statusWord(record.status) }));
    dl.append(HC.el("dt", { text: HC.t("wallet.retain_until") }), HC.el("dd", { text: HC.fmtTime(record.retain_until) }));
    renderDelete();
  }

  // renderDelete says, beside the delete button, that the record cannot be
  // deleted while the status is yellow or red (the node refuses it,
  // status_held), rather than letting the resident find out by trying.
  function renderDelete() {
    const held = record.status !== "green" || unconfirmed();
    if (renderDelete.held && !held) HC.say($("delete-result"), null); // a refusal of then
    renderDelete.held = held;
    const why = unconfirmed() ? "wallet.delete_unconfirmed" : "wallet.delete_held";
    if ($("delete-held").dataset.i18n !== why) { $("delete-held").dataset.i18n = why; $("delete-held").textContent = HC.t(why); }
    $("delete-held").hidden = !held;
    $("delete-start").disabled = held;
    if (held) $("delete-confirm").hidden = true;
  }

  // renderNotice shows the current notice. A resident who consented to an
  // earlier version is told so: their consent stands, and the current
  // notice (the one shown) applies to their record too. The version
  // stands for the text: the node records a version's text (and its
  // SHA-256, which each consent keeps as notice_sha256) before the first
  // consent to it, and refuses to start if it would serve another text
  // under a recorded version (node/noticerecord.go). So a consent with
  // the version shown was given to the text shown; one given before the
  // node recorded texts has no notice_sha256, and the version is all
  // there is to compare.
  function renderNotice() {
    const c = record.consent;
    const vars = { version: c.notice_version, when: HC.fmtTime(c.accepted_at), current: notice.version };
    $("notice-meta").textContent = HC.t(c.notice_version === notice.version ? "wallet.notice_meta" : "wallet.notice_changed", vars);
    const nt = notice.text[HC.lang] || HC.inEnglish(notice.text.en); // no text in the language: English, said so
    $("notice-text").textContent = nt;
    HC.mark($("notice-text"), nt);
  }

  function list(ul, items, render, emptyKey) {
    HC.clear(ul);
    if (!items || !items.length) { ul.append(HC.el("li", { class: "muted", text: HC.t(emptyKey) })); return; }
    for (const it of items) ul.append(HC.el("li", {}, render(it)));
  }

  function provinceName(id) {
    const m = fed && fed.members && fed.members.find((x) => x.id === id);
    return m ? HC.province(id, m.name) + " (" + id + ")" : id;
  }

  let lists = {};
  async function loadLists() {
    const base = "/v1/subjects/" + encodeURIComponent(me.subject_id);
    const [a, v, l] = await Promise.all([get(base + "/appeals"), get(base + "/verifications"), get(base + "/lookups")]);
    lists = { appeals: a.appeals, verifications: v.verifications, lookups: l.lookups };
    renderLists();
  }

  // decided is when an appeal was decided and the status it set, or "".
  function decided(a) {
    if (!a.resolved_at) return "";
    const when = HC.fmtTime(a.resolved_at);
    return " — " + (a.applied_status ? HC.t("wallet.appeal_decided_status", { when, status: HC.statusWord(a.applied_status) })
      : HC.t("wallet.appeal_decided", { when }));
  }

  function renderLists() {
    list($("appeals"), lists.appeals, (a) => HC.t("wallet.appeal_item", { when: HC.fmtTime(a.created), state: HC.t("appeal." + a.status),
      message: a.message, outcome: decided(a), note: a.note ? " — " + a.note : "" }), "wallet.none");
    list($("verifications"), lists.verifications, (v) => HC.t("wallet.verification_item", { when: v.day ? HC.fmtDay(v.day) : HC.fmtTime(v.time),
      province: provinceName(v.province), place: v.place ? HC.place(v.place) : "—", result: v.valid ? HC.t("scan.valid") : HC.reason(v.reason) }), "wallet.none");
    list($("lookups"), lists.lookups, (l) => HC.t("wallet.lookup_item", { when: HC.fmtTime(l.time), province: provinceName(l.province),
      basis: l.legal_basis || HC.t("wallet.basis_gone"), case: l.case_id, fields: HC.list((l.disclosed || []).map((f) => HC.t("field." + f))) }), "wallet.none");
  }

  function wire() {
    $("appeal-form").addEventListener("submit", HC.once($("appeal-form"), async (ev) => {
      ev.preventDefault();
      try {
        await HC.api("POST", "/v1/appeals", token, { message: $("appeal-msg").value });
        $("appeal-msg").value = "";
        HC.say($("appeal-result"), "wallet.appeal_sent");
        await loadLists();
      } catch (e) { HC.say($("appeal-result"), e); }
    }));
    // Forget this device: a shared or borrowed phone keeps nothing of
    // the resident (HC.forget). The record and the link stay as they are.
    $("forget-start").addEventListener("click", () => { $("forget-confirm").hidden = false; $("forget-no").focus(); });
    $("forget-no").addEventListener("click", () => { $("forget-confirm").hidden = true; $("forget-start").focus(); });
    $("forget-yes").addEventListener("click", () => {
      stop();
      HC.forget(PREFIX);
    });
    $("delete-start").addEventListener("click", () => { $("delete-confirm").hidden = false; $("delete-yes").focus(); });
    $("delete-no").addEventListener("click", () => { $("delete-confirm").hidden = true; $("delete-start").focus(); });
    $("delete-yes").addEventListener("click", HC.once($("delete-yes"), async () => {
      try {
        await HC.api("DELETE", "/v1/subjects/" + encodeURIComponent(me.subject_id), token);
        localStorage.removeItem(KEY);
        localStorage.removeItem(CODE_KEY);
        stop();
        HC.fatal("wallet.deleted_title", "wallet.deleted");
      } catch (e) {
        // Said beside the button, where the resident is looking: a refusal
        // (status_held, the status changed since the last poll) is not lost
        // at the top of the page.
        $("delete-confirm").hidden = true;
        HC.say($("delete-result"), e);
        polling.reset();
        pollNow();
      }
    }));
  }

  HC.start(async () => {
    const gone = HC.forgotten();
    token = HC.takeToken(localStorage, KEY, CODE_KEY); // the code kept goes with the token
    if (!token) {
      HC.fatal("fatal.no_link_title", "fatal.no_link_wallet");
      if (gone) HC.say($("fatal-detail"), "wallet.forgotten");
      return;
    }
    me = await get("/v1/whoami");
    if (me.role !== "resident") { HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.wrong_role"); return; }
    ({ token, me } = await HC.keepOrReplace(token, me, "subject_id", "wallet")); // another resident's link asks first
    HC.keepToken();
    [record, notice, fed] = await Promise.all([get("/v1/subjects/" + encodeURIComponent(me.subject_id)),
      get("/v1/privacy", null), get("/v1/federation", null)]);
    $("main").hidden = false;
    renderStatus();
    renderHeld();
    renderNotice();
    wire();
    tick();
    timers.push(setInterval(tick, 1000));
    if (unconfirmed()) {
      withdraw();
      note("wallet.status_unconfirmed");
    } else {
      await firstCode();
    }
    tick();
    timers.push(setInterval(pollNow, POLL_EVERY));
    window.addEventListener("online", again, { signal: listening.signal });
    window.addEventListener("focus", again, { signal: listening.signal });
    document.addEventListener("visibilitychange", again, { signal: listening.signal });
    HC.onLang(() => { renderStatus(); renderHeld(); renderNotice(); renderLists(); tick(); });
    await loadLists();
  });
})();
