"use strict";
// Shared by every page: the language, the token taken from the link's
// fragment, calls to the node's JSON API, and small DOM helpers. No
// framework; HC_I18N comes from i18n.js, loaded first.
const HC = (() => {
  const cat = HC_I18N;
  // own reports whether o has k as its own property: Object.hasOwn,
  // which Safari before 15.4 and Chrome before 93 lack (there it threw,
  // and the language switch, the scanner's camera errors with it, failed).
  const own = (o, k) => o !== null && o !== undefined && Object.prototype.hasOwnProperty.call(o, k);
  // LANG_KEY keeps on this device the language chosen with the pages'
  // switch, so that a reload or another page of this node opens in it:
  // the language code only ("en"), nothing personal. A ?lang= in the link
  // still wins for that page (the node served it in that language). It
  // is read here, before any text is written, so that the page is first
  // shown in it rather than in the negotiated language.
  const LANG_KEY = "hcfed.lang";
  let lang = cat[document.documentElement.lang] ? document.documentElement.lang : "zh-CN";
  if (!new URLSearchParams(location.search).has("lang")) {
    let kept = null;
    try { kept = localStorage.getItem(LANG_KEY); } catch (_) { /* storage off: the negotiated language */ }
    if (kept && own(cat, kept)) lang = kept;
  }
  document.documentElement.lang = lang;
  const listeners = [];

  // t is the message key in the current language, its {name}s replaced by
  // vars; a var that is a function is called, so that a parameter that is
  // itself words (a status) is said in the language of the moment too.
  // A message the page's language lacks is said in English: t notes the
  // text (english) and the elements it is written into carry lang="en"
  // (mark), so that a screen reader reading a zh-CN page pronounces it as
  // English rather than spelling it out with Chinese rules.
  function t(key, vars) {
    let s = cat[lang].msg[key], fell = false;
    if (s === undefined) { s = cat.en.msg[key]; fell = s !== undefined && lang !== "en"; }
    if (s === undefined) s = key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, k) => {
        const v = typeof vars[k] === "function" ? vars[k]() : vars[k];
        return v === undefined ? m : String(v);
      });
    }
    if (fell) inEnglish(s);
    return s;
  }

  // english holds the texts given in English on a page in another
  // language: messages its catalogue lacks (t), the node's own English
  // words (errorText, a warning without a sentence), the privacy notice
  // without a text in the language (shown in English). Bounded: forgotten
  // at a language switch, and when it grows past ENGLISH_MAX.
  const english = new Set(), ENGLISH_MAX = 500;
  function inEnglish(s) {
    if (lang === "en") return s;
    if (english.size >= ENGLISH_MAX) english.clear();
    english.add(s);
    return s;
  }

  // mark says, on an element whose whole text is text, whether that text
  // is English on a page in another language: lang="en" (data-en marks
  // the attribute as mark's, taken away again when the text is the
  // page's language; a lang written in the page, the language buttons',
  // is left alone).
  function mark(e, text) {
    if (lang !== "en" && english.has(text)) {
      e.setAttribute("lang", "en");
      e.dataset.en = "";
    } else if (e.dataset.en !== undefined) {
      e.removeAttribute("lang");
      delete e.dataset.en;
    }
  }

  // list joins words as the language lists them (姓名、身份证号).
  function list(items) { return items.join(t("common.list_sep")); }

  // reason is the sentence for a verification reason code.
  function reason(code) {
    return own(cat[lang].reasons, code) ? cat[lang].reasons[code] : t("reason.unknown", { code: code });
  }

  // nextStep is what a guard does after a code refused for this reason.
  function nextStep(code) {
    return own(cat[lang].next_steps, code) ? cat[lang].next_steps[code] : t("reason.unknown_next_step");
  }

  // said keeps what say showed in each element: the message key and its
  // parameters, or the error, never the text, so that apply says it again
  // in the language switched to. Elements carry data-said to be found.
  const said = new WeakMap();
  function sayText(what, vars) { return what instanceof Error ? errorText(what) : t(what, vars); }

  // sayInto writes what into e, marking English (mark): an error's
  // sentence with the node's English detail in brackets keeps that
  // detail in a span of its own with lang="en".
  function sayInto(e, what, vars) {
    const d = what instanceof APIError && lang !== "en" ? detailOf(what) : "";
    if (d) {
      const s = t("error." + what.code);
      clear(e);
      e.append(s + " (", el("span", { lang: "en", text: d }), ")");
      mark(e, s);
      return;
    }
    const s = sayText(what, vars);
    e.textContent = s;
    mark(e, s);
  }

  // say shows in el the message key with its parameters, or the sentence
  // for an error (errorText), and keeps it to follow a language switch;
  // nothing ("" or null) clears el.
  function say(el, what, vars) {
    if (!what) {
      said.delete(el);
      delete el.dataset.said;
      el.textContent = "";
      mark(el, "");
      return;
    }
    said.set(el, { what, vars });
    el.dataset.said = "";
    sayInto(el, what, vars);
  }

  function apply(root) {
    const r = root || document;
    r.querySelectorAll("[data-said]").forEach((e) => { const s = said.get(e); if (s) sayInto(e, s.what, s.vars); });
    r.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); mark(e, e.textContent); });
    r.querySelectorAll("[data-i18n-label]").forEach((e) => { e.setAttribute("aria-label", t(e.dataset.i18nLabel)); });
    r.querySelectorAll("[data-i18n-alt]").forEach((e) => { e.setAttribute("alt", t(e.dataset.i18nAlt)); });
    r.querySelectorAll("[data-i18n-placeholder]").forEach((e) => { e.setAttribute("placeholder", t(e.dataset.i18nPlaceholder)); });
    document.documentElement.lang = lang;
    if (document.body.dataset.title) document.title = t(document.body.dataset.title);
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
  }

  function setLang(l) {
    if (!own(cat, l)) return;
    lang = l;
    english.clear();
    try { localStorage.setItem(LANG_KEY, l); } catch (_) { /* not kept: this page still switches */ }
    apply();
    listeners.forEach((f) => f());
  }

  // onLang registers a function that re-renders text made by script.
  function onLang(f) { listeners.push(f); }

  // keepTyped runs render, which builds root's contents anew (in the
  // language switched to), keeping what was typed or chosen in root's
  // fields, found again by id, and the focus and caret of the one
  // focused: a language switch must not lose an operator's half-written
  // decision. (A button pressed by mouse keeps the focus where it was on
  // some browsers, Safari's: in the field that render replaces.)
  function keepTyped(root, render) {
    const kept = new Map();
    root.querySelectorAll("input[id], select[id], textarea[id]").forEach((e) => kept.set(e.id, e.value));
    const a = document.activeElement, focused = a && a.id && a !== root && root.contains(a) ? a.id : "";
    const caret = focused && typeof a.selectionStart === "number" ? [a.selectionStart, a.selectionEnd, a.selectionDirection] : null;
    render();
    const again = (id) => { const e = document.getElementById(id); return e && root.contains(e) ? e : null; };
    kept.forEach((v, id) => { const e = again(id); if (e) e.value = v; });
    const f = focused && again(focused);
    if (!f) return;
    f.focus();
    if (caret && typeof f.setSelectionRange === "function") f.setSelectionRange(...caret);
  }

  // takeToken reads token=... from the URL fragment (never sent to any
  // server) and removes it from the address bar and history; without a
  // fragment it returns the token kept in storage, if one is given. A
  // link's token is not kept before the node has accepted it for this
  // page (keepToken): a bad link — mistyped, another role's, or spread
  // by a prankster — must not take the place of the token this device
  // holds, and then be forgotten with it. along names what the page keeps
  // beside its token (the wallet's last code), forgotten with it.
  // A token the device keeps in localStorage is the device's, for every
  // tab of the page: when another tab forgets it (forget) or drops it
  // (dropToken), this one, which still shows its owner and holds the
  // token in memory, starts again without it: in the first-run state.
  let kept = null, fresh = null;
  function takeToken(storage, key, ...along) {
    kept = storage ? { storage, key, along } : null;
    if (storage) {
      window.addEventListener("storage", (e) => {
        if (e.storageArea === storage && (e.key === null || e.key === key) && e.newValue === null) location.replace(location.pathname + location.search);
      });
    }
    const frag = new URLSearchParams(location.hash.slice(1));
    let tok = frag.get("token");
    if (tok) {
      history.replaceState(null, "", location.pathname + location.search);
      if (!storage || storage.getItem(key) !== tok) fresh = tok;
      return tok;
    }
    return storage ? storage.getItem(key) : null;
  }

  // keepToken keeps the link's token on this device, once the node has
  // accepted it for this page's role.
  function keepToken() {
    if (kept && fresh) kept.storage.setItem(kept.key, fresh);
    fresh = null;
  }

  // keepOrReplace asks before the link's token (token, me its whoami)
  // replaces the one this device keeps when that one still works and is
  // another owner's (owner: the whoami field naming it, subject_id or
  // scanner_id): a link passed round, or a family member's, silently
  // took the device's wallet (or scanner) away. The question (ask, in
  // the page's words: page) shows nothing of the link's owner. It
  // resolves to the token and whoami to go on with: the link's (replace;
  // keepToken keeps it), or the device's (keep; the link's is let go).
  // The same link as the one kept, or another of the same owner, asks
  // nothing.
  async function keepOrReplace(token, me, owner, page) {
    const held = kept && fresh ? kept.storage.getItem(kept.key) : null;
    if (!held) return { token, me };
    let who;
    try {
      who = await api("GET", "/v1/whoami", held);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) return { token, me }; // the device's no longer works
      throw e;
    }
    if (who.role !== me.role || who[owner] === me[owner]) return { token, me };
    if (await ask(page)) return { token, me };
    fresh = null;
    return { token: held, me: who };
  }

  // ask shows, above #fatal, the question whether to replace the
  // device's token (the page's replace_title and replace_text), settles
  // the page while it waits (unsettled again once answered, until the
  // page is done), and resolves to whether replace was chosen
  // (#replace-yes; #replace-keep: keep).
  function ask(page) {
    return new Promise((resolve) => {
      const answer = (yes) => () => { box.remove(); document.body.dataset.ready = ""; resolve(yes); };
      const keep = el("button", { type: "button", id: "replace-keep", "data-i18n": page + ".replace_keep", onclick: answer(false) });
      const box = el("section", { id: "replace", class: "card", role: "alertdialog", "aria-labelledby": "replace-h", "aria-describedby": "replace-text" },
        el("h2", { id: "replace-h", "data-i18n": page + ".replace_title" }), el("p", { id: "replace-text", "data-i18n": page + ".replace_text" }),
        keep, el("button", { type: "button", id: "replace-yes", class: "danger", "data-i18n": page + ".replace_yes", onclick: answer(true) }));
      document.getElementById("fatal").before(box);
      apply(box);
      keep.focus();
      settled();
    });
  }

  // dropToken forgets the token the page used: the node refused it
  // (unknown, expired) or it is another role's, and no page keeps a token
  // it cannot use — least of all an operator's in a wallet's storage. A
  // link's token, not kept yet, is let go and the device's own stays,
  // with what is kept along with it (takeToken), which goes with it
  // otherwise: a lost phone whose link was replaced kept its resident's
  // id and last code. It returns whether a kept token was removed.
  function dropToken() {
    if (fresh) { fresh = null; return false; }
    if (kept) [kept.key, ...kept.along].forEach((k) => kept.storage.removeItem(k));
    return !!kept;
  }

  // forget removes from this device every trace the page keeps — its
  // token and what is kept along with it (takeToken), and whatever else
  // either storage holds under the page's prefix ("hcfed.wallet.") — and
  // loads the page anew, in its first-run state: nothing of the page's
  // owner stays in its memory, its DOM or this history entry (replaced,
  // not added to). The language chosen (hcfed.lang, a code, the device's
  // and not the person's) stays. The new page knows it follows a forget
  // (forgotten) from a mark in its address, which it takes away. Nothing
  // is asked of the node: whatever the token is good for elsewhere, it
  // still is.
  function forget(prefix) {
    fresh = null;
    if (kept) [kept.key, ...kept.along].forEach((k) => kept.storage.removeItem(k));
    for (const s of [localStorage, sessionStorage]) {
      Object.keys(s).filter((k) => k.startsWith(prefix)).forEach((k) => s.removeItem(k));
    }
    const q = new URLSearchParams(location.search);
    q.set(FORGOTTEN, "1");
    location.replace(location.pathname + "?" + q);
  }

  // forgotten reports whether this load follows forget, and takes its
  // mark out of the address bar.
  const FORGOTTEN = "forgotten";
  function forgotten() {
    const q = new URLSearchParams(location.search);
    if (!q.has(FORGOTTEN)) return false;
    q.delete(FORGOTTEN);
    const rest = q.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
    return true;
  }

  // APIError is a failed call: the HTTP status (0: no answer of the
  // node's), the node's error code (or the page's: network, bad_answer),
  // and its own message (detail, in English), if any.
  class APIError extends Error {
    constructor(status, code, detail) {
      super(detail || code || String(status));
      this.status = status;
      this.code = code || "";
      this.detail = detail || "";
    }
  }

  // deadline is a signal that aborts a call after ms milliseconds:
  // AbortSignal.timeout, or where the browser lacks it (Safari before 16,
  // Chrome before 103: many a cheap phone) a timer of its own; calling
  // the missing function failed every check at once as "not checked".
  // done stops the timer.
  function deadline(ms) {
    if (typeof AbortSignal.timeout === "function") return { signal: AbortSignal.timeout(ms), done() {} };
    const c = new AbortController();
    const timer = setTimeout(() => c.abort(), ms);
    return { signal: c.signal, done() { clearTimeout(timer); } };
  }

  // api calls the node: JSON in, JSON (or a Blob for images) out, the
  // token in the Authorization header only, no cookies, nothing cached.
  // With within (milliseconds), a call not answered by then is given up
  // as not reaching the node (network). An answer that is not the node's
  // — a Wi-Fi login page or a proxy answering in its place (HTML), a body
  // cut off — is no answer (status 0, bad_answer): never a verdict a page
  // shows, nor the node refusing the token (401) or a code (404).
  async function api(method, path, token, body, within) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const limit = within ? deadline(within) : null;
    try {
      let r;
      try {
        r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
          cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", signal: limit ? limit.signal : undefined });
      } catch (e) {
        throw new APIError(0, "network");
      }
      const ct = (r.headers.get("Content-Type") || "").toLowerCase();
      const what = "HTTP " + r.status + (ct ? ", " + ct.split(";")[0] : "");
      if (!r.ok) {
        let e = null;
        try { e = (await r.json()).error; } catch (_) { /* not JSON */ }
        if (!e || typeof e.code !== "string" || !e.code) throw new APIError(0, "bad_answer", what);
        throw new APIError(r.status, e.code, typeof e.message === "string" ? e.message : "");
      }
      if (r.status === 204) return null;
      if (!ct.includes("json") && !ct.startsWith("image/")) throw new APIError(0, "bad_answer", what);
      try {
        return ct.includes("json") ? await r.json() : await r.blob();
      } catch (e) {
        throw e instanceof SyntaxError ? new APIError(0, "bad_answer", what) : new APIError(0, "network");
      }
    } finally {
      if (limit) limit.done();
    }
  }

  // once makes f, a handler that calls the node, act once per press: a
  // second press, tap or Enter on ctl while the first is on its way is
  // ignored (a double tap sent two appeals, issued two paper codes,
  // rotated the keys twice, or said "0 withdrawn" over the withdrawal
  // just done), and ctl says it is busy meanwhile. A form submitted again
  // is still kept from submitting itself to the server.
  // Until the answer has come, success or error, the buttons of the act
  // are disabled too — ctl if a button, a form ctl's submit buttons, and
  // those that also gives (a function: the buttons that ask the question
  // ctl confirms) — and say so (aria-disabled, inert below): a status,
  // a decision or a removal confirmed cannot be asked and confirmed again
  // while its request is on its way, to be sent a second time. They keep
  // the focus (disabled would drop it): Enter on Yes again does nothing.
  function once(ctl, f, also) {
    let busy = false;
    return async (ev) => {
      if (busy) { if (ev) ev.preventDefault(); return; }
      busy = true;
      const btns = [...(ctl.tagName === "FORM" ? ctl.querySelectorAll(SUBMITS) : [ctl]), ...(also ? also() : [])];
      ctl.setAttribute("aria-busy", "true");
      btns.forEach((b) => b.setAttribute("aria-disabled", "true"));
      try {
        await f(ev);
      } finally {
        busy = false;
        ctl.removeAttribute("aria-busy");
        btns.forEach((b) => b.removeAttribute("aria-disabled"));
      }
    };
  }

  // inert stops, before any handler of the page's, every press of a
  // button that is aria-disabled (once) — a click, a tap, Enter or Space
  // on it — and every submit of a form by one: by clicking it or, as its
  // default button, by Enter in a field.
  const SUBMITS = 'button[type="submit"], button:not([type]), input[type="submit"]';
  const inert = (e) => !!e && e.getAttribute && e.getAttribute("aria-disabled") === "true";
  document.addEventListener("click", (ev) => {
    if (ev.target.closest && inert(ev.target.closest("button, input"))) { ev.preventDefault(); ev.stopImmediatePropagation(); }
  }, true);
  document.addEventListener("submit", (ev) => {
    if (inert(ev.submitter || ev.target.querySelector(SUBMITS))) { ev.preventDefault(); ev.stopImmediatePropagation(); }
  }, true);

  // errorText is what to tell a person about a failed call. The node's
  // own words are English (inEnglish, where they stand alone).
  function errorText(e) {
    if (e instanceof APIError && e.code) {
      const k = "error." + e.code;
      const s = t(k);
      if (s === k) return inEnglish(e.message);
      const d = detailOf(e);
      return d ? s + " (" + d + ")" : s;
    }
    return e && e.message ? e.message : String(e);
  }

  // detailOf is the node's own message that errorText adds, in brackets,
  // to the sentence for an error code it has one for: what exactly was
  // refused (in English); none for an internal error.
  function detailOf(e) {
    return e.code && e.detail && e.code !== "internal" && t("error." + e.code) !== "error." + e.code ? e.detail : "";
  }

  // fatal replaces the page with a clear explanation: a bad or expired
  // link must never leave a blank page.
  function fatal(titleKey, textKey) {
    const main = document.getElementById("main");
    if (main) main.hidden = true;
    const box = document.getElementById("fatal");
    box.hidden = false;
    box.querySelector("h2").dataset.i18n = titleKey;
    box.querySelector("p").dataset.i18n = textKey;
    apply(box);
    box.focus();
  }

  // el builds an element: attributes (text sets textContent), children.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") { e.textContent = v; mark(e, v); }
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }

  function fmtTime(d) {
    if (!(d instanceof Date)) d = new Date(d);
    return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" }).format(d);
  }

  // fmtDay writes a calendar day, "2026-11-30" (another province's
  // receipt: a day in China's time, no time of day), as the language
  // writes a date: without a time of day it does not have, and without
  // moving it into this device's time zone (its midnight in Beijing is
  // the day before in Europe).
  function fmtDay(day) {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day || "");
    if (!m) return day || "";
    return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(Date.UTC(+m[1], m[2] - 1, +m[3])));
  }

  function fmtDuration(sec) {
    sec = Math.max(0, Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const p = (n) => String(n).padStart(2, "0");
    return h + ":" + p(m) + ":" + p(s);
  }

  // province is how a page names a province: in a language whose
  // catalogue names the province-level division of a GB/T 2260 code
  // NN0000, that name (广东省); otherwise the name the trust list gives
  // (listName), or the code.
  function province(id, listName) {
    const m = /^(\d{2})0000$/.exec(id || "");
    return (m && (cat[lang].provinces || {})[m[1]]) || listName || id || "";
  }

  // place is a scanner's kind of place (checkpoint, station: what the
  // console offers) in the language's words; another, typed through the
  // API or the CLI, as it was written.
  function place(p) {
    const s = cat[lang].msg["place." + p];
    return s === undefined ? p : s;
  }

  // statusWord is a status in words: colour is never the only signal.
  function statusWord(st) { return t("status." + (st || "unknown")); }

  function start(init) {
    document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => setLang(b.dataset.lang)));
    // A new link opened in a tab already showing this page changes only the
    // fragment, which loads nothing: start again with the new token.
    window.addEventListener("hashchange", () => { if (/(^#|&)token=/.test(location.hash)) location.reload(); });
    apply();
    init().then(settled, (e) => {
      if (e instanceof APIError && e.status === 401) { dropToken(); fatal("fatal.bad_link_title", "fatal.bad_link"); }
      else { say(document.getElementById("fatal-detail"), e); fatal("fatal.error_title", "fatal.error"); }
      settled();
    });
  }

  // settled marks the page settled (tests and the curious wait on
  // data-ready), with the milliseconds it took since navigation began:
  // its start done, or a question (ask) waiting for an answer.
  function settled() { document.body.dataset.readyMs = String(Math.round(performance.now())); document.body.dataset.ready = "1"; }

  return { t, inEnglish, mark, forget, forgotten, own, list, say, reason, nextStep, apply, setLang, onLang, keepTyped, takeToken, keepToken, keepOrReplace, dropToken, api, APIError, once, errorText, fatal, el, clear, fmtTime,
    fmtDay, fmtDuration, province, place, statusWord, start, get lang() { return lang; } };
})();
