// Check-ins without signal (design section 16). Progressive enhancement: without this
// file, or without IndexedDB and WebCrypto, every page works as before online.
//
// What this phone keeps, all in IndexedDB "trim-offline", each value sealed with AES-GCM:
//   pages   the check-in pages the peer opened, so the form opens again without signal
//   drafts  what was typed into a check-in form, so a reload or a closed tab loses nothing
//   outbox  recordings saved without signal, with the Idempotency-Key they are sent under
// The key comes from /api/me/offline-key and lives in this tab's sessionStorage only; it
// is removed at sign-out and on any signed-out page, so what is kept cannot be read
// without a session. Only the owner's person id and a record's slot are in the clear.
(() => {
  "use strict";

  if (!("indexedDB" in window) || !window.crypto || !window.crypto.subtle || !window.sessionStorage) return;

  const KEY_ITEM = "trim-offline-key";
  const DB_NAME = "trim-offline";
  const STORES = ["pages", "drafts", "outbox"];
  // The peer's check-ins and each check-in page, and the person's own questions.
  const KEPT_PAGE = /^\/checkins(\/[0-9a-f-]{36}(\/self)?)?$/;
  const FORMS = "form[data-offline-checkin], form[data-offline-self]";
  const SYNC_TAG = "trim-outbox";

  const state = { key: null, crypto: null, shell: false, signedIn: false, needsSignIn: false, sending: false, sent: [], postWatch: null, retry: null };

  // -- IndexedDB ------------------------------------------------------------------------

  let dbPromise = null;
  function database() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = () => {
          const db = request.result;
          if (!db.objectStoreNames.contains("pages")) db.createObjectStore("pages", { keyPath: "path" });
          if (!db.objectStoreNames.contains("drafts")) db.createObjectStore("drafts", { keyPath: "path" });
          if (!db.objectStoreNames.contains("outbox")) db.createObjectStore("outbox", { keyPath: "id" });
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    }
    return dbPromise;
  }

  async function inStore(store, mode, action) {
    const db = await database();
    return new Promise((resolve, reject) => {
      const transaction = db.transaction(store, mode);
      const request = action(transaction.objectStore(store));
      transaction.oncomplete = () => resolve(request ? request.result : undefined);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  }
  const getRow = (store, key) => inStore(store, "readonly", (s) => s.get(key));
  const allRows = (store) => inStore(store, "readonly", (s) => s.getAll());
  const putRow = (store, row) => inStore(store, "readwrite", (s) => s.put(row));
  const deleteRow = (store, key) => inStore(store, "readwrite", (s) => s.delete(key));

  // -- the session's key and sealing ------------------------------------------------------

  function storedKey() {
    try {
      const value = JSON.parse(sessionStorage.getItem(KEY_ITEM) || "null");
      return value && value.key && value.person_id ? value : null;
    } catch (error) {
      return null;
    }
  }

  function forgetKey() {
    sessionStorage.removeItem(KEY_ITEM);
    state.key = null;
    state.crypto = null;
  }

  async function fetchKey() {
    let response;
    try {
      response = await fetch("/api/me/offline-key", { credentials: "same-origin", headers: { accept: "application/json" } });
    } catch (error) {
      return storedKey(); // no connection: the session's key is still the one this tab holds
    }
    if (response.ok) {
      const value = await response.json();
      sessionStorage.setItem(KEY_ITEM, JSON.stringify(value));
      return value;
    }
    if (response.status === 401) sessionStorage.removeItem(KEY_ITEM);
    return null;
  }

  function fromBase64Url(text) {
    const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  async function useKey(value) {
    state.key = value;
    state.crypto = value
      ? await crypto.subtle.importKey("raw", fromBase64Url(value.key), { name: "AES-GCM" }, false, ["encrypt", "decrypt"])
      : null;
  }

  // The slot (store and key) is bound into each ciphertext, so a sealed value cannot be
  // moved to another record.
  async function seal(slot, value) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(slot) },
      state.crypto,
      new TextEncoder().encode(JSON.stringify(value)),
    );
    return { iv: iv.buffer, data };
  }

  async function unseal(slot, sealed) {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: new Uint8Array(sealed.iv), additionalData: new TextEncoder().encode(slot) },
      state.crypto,
      sealed.data,
    );
    return JSON.parse(new TextDecoder().decode(plain));
  }

  async function keep(store, id, value) {
    const field = store === "outbox" ? "id" : "path";
    await putRow(store, { [field]: id, owner: state.key.person_id, sealed: await seal(`${store}:${id}`, value) });
  }

  async function kept(store, id) {
    const row = await getRow(store, id);
    if (!row || !state.crypto || row.owner !== state.key.person_id) return null;
    try {
      return await unseal(`${store}:${id}`, row.sealed);
    } catch (error) {
      return null; // sealed under another key (TRIM_SECRET_KEY changed): unreadable
    }
  }

  async function ownOutbox() {
    const rows = (await allRows("outbox")).filter((row) => state.key && row.owner === state.key.person_id);
    const open = [];
    for (const row of rows) {
      const value = await kept("outbox", row.id);
      if (value) open.push({ id: row.id, ...value });
    }
    return open.sort((a, b) => a.saved_at.localeCompare(b.saved_at));
  }

  // -- the badge and what the peer is told -----------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([name, value]) => node.setAttribute(name, value));
    children.forEach((child) => node.append(child));
    return node;
  }

  function area() {
    let box = document.getElementById("offline-outbox");
    if (!box) {
      const main = document.getElementById("main");
      if (!main) return null;
      box = el("div", { id: "offline-outbox", class: "offline-outbox" });
      box.append(el("div", { id: "offline-status", role: "status" }), el("div", { id: "offline-problems" }));
      main.prepend(box);
    }
    return box;
  }

  function signInLink(text) {
    const next = encodeURIComponent(location.pathname + location.search);
    return el("a", { href: `/signin?next=${next}` }, text);
  }

  const PROBLEM = {
    404: "This check-in is no longer yours to record: it was handed to another peer, or it is no longer open. It was not recorded.",
    409: "This check-in could not be recorded now: it was already recorded (by another peer, or earlier), or it is not yet time for it.",
    422: "The server could not record it as it was entered.",
  };

  async function render() {
    let waiting = 0;
    let problems = [];
    if (state.crypto) {
      const records = await ownOutbox();
      problems = records.filter((r) => r.problem);
      waiting = records.length - problems.length;
    } else {
      waiting = (await allRows("outbox")).length;
    }
    // Nothing to say: no box at all, so the page's own first message stays first.
    const existing = document.getElementById("offline-outbox");
    if (!waiting && !problems.length && !state.sent.length) {
      if (existing) existing.remove();
      return;
    }
    const box = area();
    if (!box) return;
    const status = box.querySelector("#offline-status");
    const problemsBox = box.querySelector("#offline-problems");
    status.replaceChildren();
    problemsBox.replaceChildren();
    if (state.sent.length) {
      status.append(el("p", { class: "offline-sent" }, `Sent: ${state.sent.join("; ")}.`));
    }
    if (waiting) {
      const badge = el("p", { class: "offline-badge" }, el("strong", {}, `Waiting to send (${waiting})`), " ");
      if (!state.crypto || state.needsSignIn) {
        badge.append(
          state.needsSignIn ? "Your session has ended: " : "Kept on this phone. ",
          location.pathname === "/signin" ? "sign in and it is sent." : signInLink("sign in and it is sent"),
          location.pathname === "/signin" ? "" : ".",
        );
      } else if (!navigator.onLine) {
        badge.append("Saved on this phone; it is sent when the connection is back.");
      } else {
        badge.append("Sending…");
      }
      status.append(badge);
    }
    problems.forEach((record) => problemsBox.append(problemPanel(record)));
    const note = document.getElementById("offline-saved");
    if (note && problems.some((record) => record.path === location.pathname)) {
      note.replaceChildren(el("p", {}, el("strong", {}, "Not sent."), " What you entered is shown at the top of this page."));
    }
  }

  function problemPanel(record) {
    const heading = `offline-problem-${record.id}`;
    const detail = record.problem.detail && record.problem.status !== 404 ? ` (${record.problem.detail})` : "";
    const list = el("ul", {});
    record.entered.forEach((line) => {
      list.append(el("li", {}, /[?:]$/.test(line.q) ? `${line.q} ` : `${line.q}: `, el("strong", {}, line.a)));
    });
    const dismiss = el("button", { type: "button", class: "secondary", "data-offline-dismiss": record.id }, "I have noted it: remove it from this phone");
    return el(
      "section",
      { class: "offline-problem", role: "alert", "aria-labelledby": heading },
      el("h2", { id: heading }, `Not sent: ${record.title}`),
      el("p", {}, (PROBLEM[record.problem.status] || "It could not be recorded.") + detail),
      el("p", {}, "What you entered, saved ", new Date(record.saved_at).toLocaleString(), ", so nothing is lost:"),
      list,
      dismiss,
    );
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("[data-offline-dismiss]") : null;
    if (!button) return;
    await deleteRow("outbox", button.getAttribute("data-offline-dismiss"));
    await render();
  });

  // -- sending ---------------------------------------------------------------------------

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  // A send that gets no answer (a connection that is up and carries nothing) is given up
  // after this long; what it carried stays waiting and is tried again.
  const SEND_TIMEOUT_MS = 30000;
  const RETRY_MS = 30000;

  async function timedFetch(url, options) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), SEND_TIMEOUT_MS);
    try {
      return await fetch(url, { ...options, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  async function sent(record) {
    await deleteRow("outbox", record.id);
    await deleteRow("pages", record.path);
    await deleteRow("drafts", record.path);
    state.sent.push(record.title);
    markSent(record);
    return true;
  }

  async function refused(record, status, detail) {
    const { id, ...value } = record;
    value.problem = { status, detail };
    await keep("outbox", id, value);
    return true;
  }

  async function sendOne(record) {
    if (record.form) return sendPosted(record);
    const response = await timedFetch(`/api/checkins/${record.checkin_id}/record`, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        "idempotency-key": record.id,
        "x-csrftoken": csrfToken(),
      },
      body: JSON.stringify(record.body),
    });
    if (response.status === 201 || response.status === 200) return sent(record);
    if (response.status === 401 || response.status === 403) {
      state.needsSignIn = true; // an expired session (or its token): sign in, then it is sent
      return false;
    }
    if (response.status === 404 || response.status === 409 || response.status === 422) {
      const answer = await response.json().catch(() => ({}));
      return refused(record, response.status, typeof answer.detail === "string" ? answer.detail : "");
    }
    return false; // the server is unwell: try again later
  }

  // A form post that got no answer in time (see watchPost) is sent again as it was posted:
  // the same fields under the form's own key, so if the first one got through the server
  // replays it (and shows the check-in) instead of recording it twice.
  async function sendPosted(record) {
    const body = new URLSearchParams(record.form.fields);
    body.set("_csrf_token", csrfToken());
    const response = await timedFetch(record.form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrftoken": csrfToken() },
      body,
    });
    const landed = new URL(response.url, location.href).pathname;
    if (response.ok && landed === (record.form.done || record.path)) return sent(record); // done, or done before
    if (response.status === 401 || response.status === 403 || (response.ok && SIGN_IN.test(landed))) {
      state.needsSignIn = true; // refused or sent to sign in: sign in, then it is sent
      return false;
    }
    if (response.ok || response.status === 404 || response.status === 409 || response.status === 422) {
      // Refused in words (a page with its reason, or sent back to the form with a message).
      const page = new DOMParser().parseFromString(await response.text().catch(() => ""), "text/html");
      const said = page.querySelector("main .flash-error");
      return refused(record, response.ok ? 409 : response.status, said ? text(said) : "");
    }
    return false;
  }
  const SIGN_IN = /^\/(signin|account\/second-factor)/;

  async function send() {
    if (state.sending || !state.crypto || !navigator.onLine) return;
    state.sending = true;
    try {
      const send = async () => {
        for (const record of await ownOutbox()) {
          if (record.problem) continue;
          if (!(await sendOne(record))) break;
        }
      };
      // Two tabs must not send the same recording at once (harmless, but needless).
      if (navigator.locks) await navigator.locks.request("trim-outbox", send);
      else await send();
    } catch (error) {
      // A lost connection mid-send, or no answer in time: everything unsent stays waiting.
    } finally {
      state.sending = false;
      await render();
      await retryWhileWaiting();
    }
  }

  // The browser says it is online, yet something waits: try again every RETRY_MS while it does.
  async function retryWhileWaiting() {
    const waiting = state.crypto && (await ownOutbox()).some((record) => !record.problem);
    if (waiting && !state.retry) {
      state.retry = setInterval(() => send(), RETRY_MS);
    } else if (!waiting && state.retry) {
      clearInterval(state.retry);
      state.retry = null;
    }
  }

  function askToSync() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.ready
      .then((registration) => (registration.sync ? registration.sync.register(SYNC_TAG) : undefined))
      .catch(() => undefined);
  }

  // -- the check-in form -----------------------------------------------------------------

  function formFields(form) {
    return Array.from(new FormData(form).entries()).filter(
      ([name, value]) => typeof value === "string" && name !== "_csrf_token" && name !== "idempotency_key",
    );
  }

  function recordBody(form) {
    const data = new FormData(form);
    const outcome = String(data.get("outcome") || "");
    const answers = {};
    if (outcome === "completed") {
      for (const [name, value] of data.entries()) {
        const parts = name.split("__");
        if (parts.length === 3 && parts[0] === "a" && (value === "yes" || value === "no")) {
          answers[parts[1]] = answers[parts[1]] || {};
          answers[parts[1]][parts[2]] = value === "yes";
        }
      }
    }
    // "They answered themselves and preferred not to talk": completed from their own answers.
    const selfOnly = outcome === "self_only";
    return {
      outcome: selfOnly ? "completed" : outcome,
      preferred_not_to_talk: selfOnly,
      reason: String(data.get("reason") || "") || null,
      answers,
      safety_concern: data.get("safety_concern") === "yes",
      notes: String(data.get("notes") || "") || null,
      opt_out: data.get("opt_out") === "yes",
    };
  }

  function text(node) {
    return node ? node.textContent.replace(/\s+/g, " ").trim() : "";
  }

  // The page's heading (the person and the kind of check-in) without its status badge.
  function headingText() {
    const heading = document.querySelector("main h1");
    if (!heading) return "";
    const copy = heading.cloneNode(true);
    copy.querySelectorAll(".badge").forEach((badge) => badge.remove());
    return text(copy);
  }

  function chosenLabel(input) {
    const label = input.closest("label");
    return label ? text(label) : input.value;
  }

  // What was entered, in the form's own words, to show the peer if it cannot be recorded.
  function entered(form) {
    const lines = [];
    const outcome = form.querySelector('input[name="outcome"]:checked');
    if (outcome) lines.push({ q: "How did it go?", a: chosenLabel(outcome) });
    const reason = form.querySelector('[name="reason"]');
    if (reason && reason.value) lines.push({ q: "Reason", a: reason.value });
    form.querySelectorAll("fieldset.yesno").forEach((fieldset) => {
      if (fieldset.closest("[hidden]")) return;
      const chosen = fieldset.querySelector("input:checked");
      if (chosen) lines.push({ q: text(fieldset.querySelector("legend")), a: chosenLabel(chosen) });
    });
    const optOut = form.querySelector('[name="opt_out"]');
    if (optOut && optOut.checked) lines.push({ q: "No more check-ins", a: chosenLabel(optOut) });
    const notes = form.querySelector('[name="notes"]');
    if (notes && notes.value) lines.push({ q: "Your notes", a: notes.value });
    return lines;
  }

  function missing(form) {
    const gaps = [];
    if (isSelf(form)) {
      const unanswered = Array.from(form.querySelectorAll(".instrument fieldset.yesno")).filter(
        (fieldset) => !fieldset.querySelector("input:checked"),
      );
      if (unanswered.length) gaps.push(`${unanswered.length} unanswered question${unanswered.length > 1 ? "s" : ""}`);
      if (!form.querySelector('input[name="safety_concern"]:checked')) gaps.push("the safety question");
      return gaps;
    }
    const outcome = form.querySelector('input[name="outcome"]:checked');
    if (!outcome) gaps.push("how it went");
    if (outcome && outcome.value === "completed") {
      const unanswered = Array.from(form.querySelectorAll(".instruments fieldset.yesno")).filter(
        (fieldset) => !fieldset.querySelector("input:checked"),
      );
      if (unanswered.length) gaps.push(`${unanswered.length} unanswered question${unanswered.length > 1 ? "s" : ""}`);
    }
    if (outcome && (outcome.value === "unreachable" || outcome.value === "not_needed")) {
      const reason = form.querySelector('[name="reason"]');
      if (reason && !reason.value.trim()) gaps.push("the reason");
    }
    if (!form.querySelector('input[name="safety_concern"]:checked')) gaps.push("the safety question");
    return gaps;
  }

  function showSaved(form, message) {
    form.hidden = true;
    let note = document.getElementById("offline-saved");
    if (!note) {
      note = el("div", { id: "offline-saved", class: "offline-saved", role: "status" });
      form.after(note);
    }
    note.replaceChildren(el("p", {}, el("strong", {}, "Saved on this phone."), " ", message));
  }

  async function saveOffline(form) {
    if (isSelf(form)) {
      await keepPosted(form, postedRecord(form), "Your answers are sent once, when the connection is back. You can close this page.");
      return;
    }
    const keyField = form.querySelector('[name="idempotency_key"]');
    const id = (keyField && keyField.value) || crypto.randomUUID();
    await keep("outbox", id, {
      checkin_id: form.getAttribute("data-offline-checkin"),
      path: location.pathname,
      title: headingText() || document.title,
      body: recordBody(form),
      entered: entered(form),
      saved_at: new Date().toISOString(),
    });
    await deleteRow("drafts", location.pathname);
    askToSync();
    showSaved(form, "It is sent once, when the connection is back. You can close this page.");
    await render();
  }

  // Online, the ordinary form post goes out; but a connection that is up and carries
  // nothing (one bar of signal) can leave it hanging with no answer. If none comes within
  // the form's data-offline-timeout seconds, the post is stopped and what was entered is
  // kept on the phone and sent from here, as it was posted (sendPosted).
  function watchPost(form) {
    const seconds = Number(form.getAttribute("data-offline-timeout") || 0);
    if (!seconds || !state.crypto) return;
    const record = postedRecord(form);
    if (!record) return;
    clearTimeout(state.postWatch);
    state.postWatch = setTimeout(() => {
      window.stop(); // the page stays; the post may still have reached the server
      keepPosted(form, record, "No answer came back over this connection, so it is kept here and sent from this phone. If it did get through, it is not recorded twice.").catch(() => undefined);
    }, seconds * 1000);
  }

  // The person's own answers with a safety "yes", not sent yet: nobody has been told, so
  // say so and keep the help in view (the page's own guidance is in the hidden form).
  function showHelpIfUntold(record) {
    const untold = record.form && record.form.done && record.form.fields.some(([n, v]) => n === "safety_concern" && v === "yes");
    const note = document.getElementById("offline-saved");
    if (!untold || !note || document.getElementById("offline-crisis")) return;
    const guidance = document.getElementById("crisis-guidance");
    const help = guidance ? guidance.querySelector("p") : null;
    note.after(
      el("div", { id: "offline-crisis", class: "crisis", role: "alert" },
        el("h2", {}, "You do not have to wait"),
        el("p", {}, el("strong", {}, "The programme lead is told when your answers are sent, not before.")),
        help ? help.cloneNode(true) : el("p", {}, "Call your usual emergency number or a crisis line now."),
      ),
    );
  }

  function isSelf(form) {
    return form.hasAttribute("data-offline-self");
  }

  // A form as the browser would post it, to be posted again from the outbox: the peer's
  // check-in under its form's key (a second post replays the first), or the person's own
  // answers (answered once: a second post finds them and shows them).
  function postedRecord(form) {
    const key = form.querySelector('[name="idempotency_key"]');
    if (!isSelf(form) && !(key && key.value)) return null;
    // As the browser posts them: line breaks as CRLF (the server's replay compares them).
    const fields = Array.from(new FormData(form).entries())
      .filter(([name, value]) => typeof value === "string" && name !== "_csrf_token")
      .map(([name, value]) => [name, value.replace(/\r\n|\r|\n/g, "\r\n")]);
    return {
      id: isSelf(form) ? crypto.randomUUID() : key.value,
      checkin_id: form.getAttribute("data-offline-checkin") || form.getAttribute("data-offline-self"),
      path: location.pathname,
      title: headingText() || document.title,
      form: { action: form.getAttribute("action"), fields, done: isSelf(form) ? `${location.pathname}/done` : null },
      entered: entered(form),
    };
  }

  async function keepPosted(form, record, message) {
    const { id, ...value } = record;
    await keep("outbox", id, { ...value, saved_at: new Date().toISOString() });
    await deleteRow("drafts", location.pathname);
    askToSync();
    showSaved(form, message);
    if (isSelf(form)) showHelpIfUntold(record);
    await render();
    await retryWhileWaiting();
  }

  let draftTimer = null;
  function keepDraftSoon(form) {
    clearTimeout(draftTimer);
    draftTimer = setTimeout(() => {
      keep("drafts", location.pathname, { fields: formFields(form), saved_at: new Date().toISOString() }).catch(() => undefined);
    }, 250);
  }

  function restoreDraft(form, fields) {
    for (const [name, value] of fields) {
      form.querySelectorAll(`[name="${CSS.escape(name)}"]`).forEach((input) => {
        if (input.type === "radio" || input.type === "checkbox") {
          if (input.value === value) {
            input.checked = true;
            input.dispatchEvent(new Event("change", { bubbles: true }));
          }
        } else if (input.type !== "hidden") {
          input.value = value;
        }
      });
    }
    const note = el("p", { class: "offline-draft", role: "status" }, "What you entered before is back: it was kept on this phone.");
    form.prepend(note);
  }

  async function hookForm() {
    const form = document.querySelector(FORMS);
    if (!form) {
      // A check-in page without the form: recorded, or not this peer's to record.
      if (state.crypto && !state.shell && /^\/checkins\/[0-9a-f-]{36}$/.test(location.pathname)) {
        await deleteRow("drafts", location.pathname);
      }
      // The person's answers were sent: what they had typed is not kept any longer.
      const done = location.pathname.match(/^(\/checkins\/[0-9a-f-]{36}\/self)\/done$/);
      if (state.crypto && !state.shell && done) await deleteRow("drafts", done[1]);
      return;
    }
    if (!state.crypto) return;
    const waiting = (await ownOutbox()).find((r) => r.path === location.pathname && !r.problem);
    if (waiting) {
      showSaved(form, "It is waiting to be sent and is sent once, when the connection is back.");
      showHelpIfUntold(waiting);
      return;
    }
    const draft = await kept("drafts", location.pathname);
    if (draft && draft.fields.length) restoreDraft(form, draft.fields);
    form.addEventListener("input", () => keepDraftSoon(form));
    form.addEventListener("change", () => keepDraftSoon(form));
    form.addEventListener("submit", (event) => {
      if (navigator.onLine && !state.shell) {
        watchPost(form); // the ordinary form post; the draft stays until it is recorded
        return;
      }
      event.preventDefault();
      const gaps = missing(form);
      let alert = form.querySelector(".offline-gaps");
      if (gaps.length) {
        if (!alert) {
          alert = el("p", { class: "flash flash-error offline-gaps", role: "alert" });
          form.prepend(alert);
        }
        alert.textContent = `Not saved yet: answer ${gaps.join(", ")}.`;
        return;
      }
      if (alert) alert.remove();
      clearTimeout(draftTimer);
      saveOffline(form).catch(() => {
        showSaved(form, "");
        document.getElementById("offline-saved").replaceChildren(
          el("p", { class: "flash flash-error", role: "alert" }, "This phone could not keep the check-in. Keep the page open and try again when you have signal."),
        );
        form.hidden = false;
      });
    });
  }

  function markSent(record) {
    if (record.path !== location.pathname) return;
    const note = document.getElementById("offline-saved");
    if (!note) return;
    if (record.form && record.form.done) {
      note.replaceChildren(el("p", {}, el("strong", {}, "Sent. "), el("a", { href: record.form.done }, "See your answers")));
      const told = document.querySelector("#offline-crisis strong");
      if (told) told.textContent = "Your answers are sent: the programme lead has been told.";
    } else {
      note.replaceChildren(el("p", {}, el("strong", {}, "Sent and recorded. "), el("a", { href: record.path }, "See the check-in")));
    }
  }

  // -- pages kept for later --------------------------------------------------------------

  async function keepPage() {
    if (!KEPT_PAGE.test(location.pathname)) return;
    const main = document.getElementById("main");
    if (!main) return;
    await keep("pages", location.pathname, {
      title: document.title,
      label: headingText() || document.title,
      html: main.innerHTML,
      saved_at: new Date().toISOString(),
    });
  }

  async function openKeptPage() {
    const main = document.getElementById("main");
    const copy = state.crypto ? await kept("pages", location.pathname) : null;
    if (copy) {
      main.innerHTML = copy.html;
      document.title = copy.title;
      main.prepend(
        el("p", { class: "offline-copy" }, `No connection: this is the copy this phone kept on ${new Date(copy.saved_at).toLocaleString()}.`),
      );
      state.shell = true;
      return;
    }
    if (!state.crypto) return;
    const list = document.getElementById("offline-kept-list");
    const rows = (await allRows("pages")).filter((row) => row.owner === state.key.person_id);
    for (const row of rows) {
      const value = await kept("pages", row.path);
      if (value) list.append(el("li", {}, el("a", { href: row.path }, value.label || value.title)));
    }
    if (list.children.length) document.getElementById("offline-kept").hidden = false;
  }

  // -- start -----------------------------------------------------------------------------

  async function start() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => undefined);
      navigator.serviceWorker.addEventListener("message", (event) => {
        if (event.data && event.data.type === "trim-outbox-send") send();
      });
    }
    state.shell = Boolean(document.getElementById("offline-shell"));
    state.signedIn = Boolean(document.querySelector('form[action="/signout"]'));
    if (state.shell) {
      await useKey(storedKey());
      await openKeptPage();
    } else if (state.signedIn) {
      // Ask for the key where it is needed (a check-in page, or something waiting to send);
      // elsewhere the one this tab holds will do, and a page before a second factor is set
      // up (where the key is refused) is left alone.
      const needed = KEPT_PAGE.test(location.pathname) || (await allRows("outbox")).length > 0;
      await useKey(needed ? await fetchKey() : storedKey());
      if (state.crypto) await keepPage();
    } else {
      forgetKey(); // a signed-out page holds no key
    }
    await hookForm();
    await render();
    await send();
  }

  // Signing out ends the key with the session.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (form instanceof HTMLFormElement && new URL(form.action, location.href).pathname === "/signout") forgetKey();
    },
    true,
  );
  window.addEventListener("online", () => {
    state.needsSignIn = false;
    const copy = document.querySelector(".offline-copy");
    if (copy) {
      copy.replaceChildren("The connection is back. ", el("a", { href: location.pathname }, "Reload this page"), " to see it as it is now.");
    }
    render().then(send);
  });
  window.addEventListener("offline", () => render());
  window.addEventListener("focus", () => send());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") send();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => start().catch(() => undefined));
  else start().catch(() => undefined);
})();
