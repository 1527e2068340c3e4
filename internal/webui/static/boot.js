// Loaded async from <head>: asks for the summary (/metrics/snapshot) as the
// page starts to load, before app.js and the stylesheet have arrived, so
// that the overview's cards can show as soon as the page can render them.
// app.js takes the answer from window.agoraFirstMetrics.
'use strict';
window.agoraFirstMetrics = fetch('/metrics/snapshot', { cache: 'no-store', credentials: 'same-origin' })
  .then((r) => (r.ok ? r.json() : null))
  .catch(() => null);
