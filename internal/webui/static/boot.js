// Loaded async from <head>: the summary (/metrics/snapshot) the overview's
// cards show first. The master's page usually carries it (the data block
// #agora-summary, placed before this script); otherwise this asks for it as
// the page starts to load, before app.js and the stylesheet have arrived.
// app.js takes it from window.agoraFirstMetrics.
'use strict';
window.agoraFirstMetrics = (() => {
  const el = document.getElementById('agora-summary');
  if (el) {
    try {
      return Promise.resolve(JSON.parse(el.textContent));
    } catch (e) { /* ask for it instead */ }
  }
  return fetch('/metrics/snapshot', { cache: 'no-store', credentials: 'same-origin' })
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null);
})();
