"use strict";
// The checkpoint scanner: camera (jsQR, bundled) or a typed/pasted code,
// checked by this scanner's own node; a full-screen result in colour and
// words, cleared after a few seconds, and at once when the page is hidden
// (conceal). Nothing is kept but the scanner token: no history, no code,
// no name.
(() => {
  const $ = (id) => document.getElementById(id);
  // PREFIX begins every key the scanner keeps (in localStorage: KEY),
  // all forgotten when the device is unregistered.
  const PREFIX = "hcfed.scanner.", KEY = PREFIX + "token";
  // SHOW_FOR is how long a result stays; SCAN_EVERY how often a camera
  // frame is decoded; MAX_WIDTH the width frames are scaled down to;
  // CHECK_WITHIN how long a check may take before the guard is told it
  // was not checked (a hung connection answered nothing for minutes, and
  // then about a traveler who had gone, over the one in front).
  const SHOW_FOR = 5000, SCAN_EVERY = 250, MAX_WIDTH = 640, CHECK_WITHIN = 8000;
  let token, fed, stream, timer, hideTimer, busy = false, last = null;
  // waiting is a code entered while a check was on its way or its result
  // showed, checked once that result has been closed: one at most, a
  // further one is refused in words (putting it in the place of the one
  // waiting would drop a traveler the guard thinks was checked). note is
  // the message key of what the queue says, or null. typing is set while
  // a result shows that came in the middle of a code being typed.
  let waiting = null, note = null, typing = false;
  // epoch counts the times the page was hidden (conceal): a check's
  // answer that comes after is not shown.
  let epoch = 0;

  // ageText says seconds in minutes, or hours and minutes.
  function ageText(seconds) {
    const minutes = Math.floor(seconds / 60);
    return minutes < 60 ? HC.t("scan.age_minutes", { minutes: minutes })
      : HC.t("scan.age_hours", { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
  }

  function provinceName(id) {
    const m = fed && fed.members && fed.members.find((x) => x.id === id);
    return m ? HC.province(id, m.name) + " (" + id + ")" : id || "";
  }

  // verdict reports whether v is a verification as the node writes one:
  // valid or not, a reason, and for a valid code a status colour and a
  // masked name. Anything else that came back (a login page's JSON, an
  // empty object) is no verdict, and was shown as "not valid".
  function verdict(v) {
    return !!v && typeof v === "object" && typeof v.valid === "boolean" && typeof v.reason === "string" &&
      (!v.valid || (["green", "yellow", "red"].includes(v.status) && typeof v.masked_name === "string"));
  }

  // check asks the node about code and shows its answer. While the
  // question is on its way (at most CHECK_WITHIN) the page says so, for a
  // guard who would otherwise see nothing happen and scan again. An
  // answer that comes after the page was hidden is about a traveler who
  // has gone: it is not shown (in the phone's app switcher, or to the
  // next traveler when the page is looked at again), and a code entered
  // since is checked in its place.
  async function check(code) {
    if (busy) return;
    busy = true;
    const at = epoch;
    HC.say($("check-status"), "scan.checking");
    let v;
    try {
      v = await HC.api("POST", "/v1/verify", token, { code: code.trim() }, CHECK_WITHIN);
      if (!verdict(v)) throw new HC.APIError(0, "bad_answer", "not a verification");
    } catch (e) {
      if (e instanceof HC.APIError && e.status === 401) { stopCamera(); HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.bad_link_scanner"); return; }
      v = { valid: false, reason: "", error: e };
    } finally {
      busy = false;
      HC.say($("check-status"), null);
    }
    if (at !== epoch) proceed();
    else show(v);
  }

  // take checks a code entered, or keeps it waiting while a check is on
  // its way or a result shows: the result in front of the guard is never
  // replaced before they have closed it (or its time is up).
  function take(code) {
    if (!busy && $("result").hidden) {
      queueNote(null);
      check(code);
    } else if (waiting === null) {
      waiting = code;
      queueNote("scan.next_waiting");
    } else {
      queueNote("scan.next_refused");
    }
  }

  // queueNote says key under the code field and on the result (which
  // covers the field), or nothing.
  function queueNote(key) {
    note = key;
    HC.say($("code-note"), key);
    HC.say($("result-note"), key);
    $("result-note").hidden = !key;
  }

  // takeField takes the code in the field, emptying it.
  function takeField() {
    const code = $("code-input").value;
    $("code-input").value = "";
    if (code.trim()) take(code);
  }

  // show fills the full-screen result and clears it after SHOW_FOR.
  // behind is what the full-screen result covers: inert while it shows,
  // so that Tab cannot reach controls nobody sees.
  function behind(inert) { ["main", "bar"].forEach((id) => { $(id).inert = inert; }); }

  function show(v) {
    last = v;
    typing = $("code-input").value !== "";
    render(v);
    behind(true);
    $("result").hidden = false;
    $("result").focus();
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, SHOW_FOR);
  }

  // render writes the result in the current language (again after a
  // switch: v keeps the answer or the error, not sentences); words always
  // say what the colour says. A check that failed (no answer from the
  // node) is no verdict: it says "not checked", never "not valid".
  function render(v) {
    const st = v.valid ? v.status : v.error ? "unchecked" : "invalid";
    $("result").className = "result status-" + st;
    $("result-status").textContent = v.valid ? HC.t("scan.valid_status", { status: HC.statusWord(v.status) })
      : HC.t(v.error ? "scan.unchecked" : "scan.invalid");
    $("result-name").textContent = v.valid ? v.masked_name : "";
    $("result-province").textContent = v.issuer ? HC.t("scan.issued_by", { province: provinceName(v.issuer) }) : "";
    // The node names how old its news of the issuer's withdrawn codes is
    // only when that is notably old: a valid answer then rests on it.
    $("result-revocations").textContent = v.issuer && v.revocations_age
      ? HC.t("scan.revocations_age", { province: provinceName(v.issuer), age: ageText(v.revocations_age) }) : "";
    const why = v.error ? HC.errorText(v.error) : HC.reason(v.reason);
    $("result-reason").textContent = why;
    HC.mark($("result-reason"), why); // the node's English words, for an error without a sentence
    $("result-next").textContent = v.valid || v.error ? "" : HC.nextStep(v.reason);
    $("result").dataset.reason = v.reason || "";
  }

  function hide() {
    clearTimeout(hideTimer);
    last = null;
    typing = false;
    $("result").hidden = true;
    $("result").className = "result status-none";
    ["result-status", "result-name", "result-province", "result-revocations", "result-reason", "result-next"].forEach((id) => { $(id).textContent = ""; });
    $("result").dataset.reason = "";
    behind(false);
    $("code-input").focus();
    proceed();
  }

  // proceed checks the code waiting, if one is, now that no result
  // shows. A refusal stays until the guard has seen the result after it.
  function proceed() {
    const next = waiting;
    waiting = null;
    if (next === null || note === "scan.next_waiting") queueNote(null);
    if (next !== null) check(next);
  }

  // conceal takes off the page, at once, everything that shows what was
  // checked — the result with its masked name, a code typed or waiting,
  // the note about it — when the page is hidden (the phone locked,
  // another app or tab in front) and when it is shown again from the
  // browser's back-forward cache: the result's own clearing is a timer,
  // which does not run while the page is hidden, and the phone's app
  // switcher kept the last traveler's result, shown again to whoever
  // looked at the page next. An answer on its way is not shown (epoch).
  // The camera is left on, for the guard back at the page to scan on; no
  // frame is read while the page is hidden.
  function conceal() {
    epoch++;
    waiting = null;
    queueNote(null);
    $("code-input").value = "";
    hide();
  }
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") conceal(); });
  window.addEventListener("pagehide", conceal);
  window.addEventListener("pageshow", (e) => { if (e.persisted) conceal(); });

  // keyOverResult: a keyboard-wedge scanner types the next traveler's
  // code while the last result still shows. Its first character closes
  // the result, which gives the focus back to the code field, and goes on
  // into it with every one after, so that the whole code is checked when
  // its Enter arrives; a lone Escape or Enter only closes the result (an
  // Enter going on would submit an empty field). A result that came while
  // a code was being typed is not closed by the rest of it: the rest goes
  // on into the field, and its Enter keeps it waiting.
  function keyOverResult(e) {
    if ($("result").hidden) return;
    const char = [...e.key].length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey;
    if (typing && (char || e.key === "Enter")) {
      e.preventDefault();
      if (char) {
        $("code-input").value += e.key;
      } else {
        typing = false;
        takeField();
      }
    } else if (e.key === "Escape" || e.key === "Enter") {
      e.preventDefault();
      hide();
    } else if (char) {
      hide();
    }
  }

  // pasteOverResult puts a code pasted while a result shows into the code
  // field, closing the result, rather than dropping it.
  function pasteOverResult(e) {
    if ($("result").hidden) return;
    e.preventDefault();
    hide();
    const f = $("code-input");
    f.setRangeText((e.clipboardData && e.clipboardData.getData("text")) || "", f.selectionStart, f.selectionEnd, "end");
  }

  // decode reads a QR code in a frame with the bundled jsQR, or null.
  function decode(img) {
    const qr = jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
    return qr && qr.data ? qr.data : null;
  }

  // CAMERA_ERRORS says, by the name of getUserMedia's error, why the
  // camera did not open and what to do: "allow camera access" helps
  // neither a device without a camera nor one whose camera is taken.
  const CAMERA_ERRORS = { NotAllowedError: "scan.camera_denied", SecurityError: "scan.camera_denied",
    NotFoundError: "scan.camera_none", OverconstrainedError: "scan.camera_none", NotReadableError: "scan.camera_busy" };

  async function startCamera() {
    // Browsers offer the camera only to a page over HTTPS (or from the
    // device itself): over plain http the API is missing altogether.
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      HC.say($("camera-status"), "scan.camera_insecure");
      return;
    }
    $("camera-start").disabled = true; // one stream, however often it is pressed
    const video = $("video");
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      video.srcObject = stream;
      await video.play();
    } catch (e) {
      if (stream) stream.getTracks().forEach((tr) => tr.stop());
      stream = null;
      video.srcObject = null;
      HC.say($("camera-status"), (e && HC.own(CAMERA_ERRORS, e.name)) ? CAMERA_ERRORS[e.name] : "scan.camera_failed");
      return;
    } finally {
      $("camera-start").disabled = false;
    }
    $("camera-start").hidden = true;
    $("camera-stop").hidden = false;
    HC.say($("camera-status"), "scan.camera_on");
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    timer = setInterval(() => {
      if (busy || !$("result").hidden || !video.videoWidth || document.visibilityState === "hidden") return;
      const scale = Math.min(1, MAX_WIDTH / video.videoWidth);
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      video.dataset.frames = String(Number(video.dataset.frames || 0) + 1); // frames tried, for diagnosis
      const text = decode(ctx.getImageData(0, 0, canvas.width, canvas.height));
      if (text) check(text);
    }, SCAN_EVERY);
  }

  function stopCamera() {
    clearInterval(timer);
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    stream = null;
    $("video").srcObject = null;
    $("camera-start").hidden = false;
    $("camera-stop").hidden = true;
    HC.say($("camera-status"), "scan.camera_off");
  }

  HC.start(async () => {
    const gone = HC.forgotten();
    token = HC.takeToken(localStorage, KEY);
    if (!token) {
      HC.fatal("fatal.no_link_title", "fatal.no_link_scanner");
      if (gone) HC.say($("fatal-detail"), "scan.unregistered");
      return;
    }
    let me;
    try {
      me = await HC.api("GET", "/v1/whoami", token);
    } catch (e) {
      if (!(e instanceof HC.APIError && e.status === 401)) throw e;
      HC.dropToken();
      HC.fatal("fatal.bad_link_title", "fatal.bad_link_scanner");
      return;
    }
    if (me.role !== "scanner") { HC.dropToken(); HC.fatal("fatal.bad_link_title", "fatal.wrong_role"); return; }
    ({ token, me } = await HC.keepOrReplace(token, me, "scanner_id", "scan")); // another scanner's link asks first
    HC.keepToken();
    fed = await HC.api("GET", "/v1/federation");
    $("main").hidden = false;
    const info = () => { $("scanner-info").textContent = HC.t("scan.info", { province: HC.province(me.province, me.province_name) }); };
    info();
    HC.onLang(() => { info(); if (last) render(last); });
    $("camera-start").addEventListener("click", startCamera);
    $("camera-stop").addEventListener("click", stopCamera);
    $("result-close").addEventListener("click", hide);
    document.addEventListener("keydown", keyOverResult, true);
    document.addEventListener("paste", pasteOverResult, true);
    // Unregister this device (a shift change, a device leaving the
    // checkpoint): it forgets its token (HC.forget). The registration
    // stands at the node: only the operator removes it.
    $("unregister-start").addEventListener("click", () => { $("unregister-confirm").hidden = false; $("unregister-no").focus(); });
    $("unregister-no").addEventListener("click", () => { $("unregister-confirm").hidden = true; $("unregister-start").focus(); });
    $("unregister-yes").addEventListener("click", () => {
      stopCamera();
      conceal();
      token = null;
      HC.forget(PREFIX);
    });
    $("paste-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      takeField();
    });
    $("code-input").focus();
  });
})();
