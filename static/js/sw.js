// trim's service worker (served at /sw.js, scope /). Hand-written, no library.
//
// What it keeps in Cache Storage is never confidential: the static assets, the manifest,
// the instruments' wording and the /offline page (rendered for nobody). Pages that carry
// personal data are never cached here: the signed-in page keeps its own sealed copy in
// IndexedDB (static/js/offline.js), which only the session's key opens. A navigation
// that fails for want of a connection gets the /offline page, and offline.js fills it
// from that sealed copy.
"use strict";

const VERSION = "trim-offline-v2"; // a new name when a cached file changes, so a phone takes the new one at once
const PRECACHE = [
  "/offline",
  "/manifest.webmanifest",
  "/static/css/app.css",
  "/static/css/offline.css",
  "/static/vendor/pico/pico.min.css",
  "/static/vendor/htmx/htmx.min.js",
  "/static/js/app.js",
  "/static/js/offline.js",
  "/static/favicon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
];
// Instrument wording is the same for everyone and carries nothing about a person.
const SHARED_API = ["/api/instruments"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(VERSION).then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })))),
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name !== VERSION).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

async function fromNetworkThenCache(request) {
  const cache = await caches.open(VERSION);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(request);
    if (kept) return kept;
    throw error;
  }
}

async function fromCacheThenRefresh(request, event) {
  const cache = await caches.open(VERSION);
  const kept = await cache.match(request);
  const refresh = fetch(request).then((response) => {
    if (response.ok) return cache.put(request, response.clone()).then(() => response);
    return response;
  });
  if (kept) {
    event.waitUntil(refresh.catch(() => undefined));
    return kept;
  }
  return refresh;
}

async function navigation(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const shell = await caches.match("/offline");
    if (shell) return shell;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigation(request));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(fromCacheThenRefresh(request, event));
  } else if (SHARED_API.includes(url.pathname)) {
    event.respondWith(fromNetworkThenCache(request));
  }
});

// Background Sync: the connection is back. Only a signed-in page holds the key that opens
// a waiting recording, so the worker asks the open pages to send; with none open, the next
// page load sends it.
self.addEventListener("sync", (event) => {
  if (event.tag !== "trim-outbox") return;
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((windows) => {
      windows.forEach((client) => client.postMessage({ type: "trim-outbox-send" }));
    }),
  );
});
