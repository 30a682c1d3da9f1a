// Crawls page: refresh the running crawls' counters every few seconds from the JSON API.
// Built with textContent only (never innerHTML), so nothing from the server is run as markup.
"use strict";

(function () {
  const table = document.getElementById("running-crawls");
  if (!table) {
    return;
  }
  const url = table.dataset.pollUrl;
  const seconds = Number(table.dataset.pollSeconds) || 3;
  const status = document.getElementById("poll-status");
  const body = table.tBodies[0];
  const COUNTERS = ["duration", "pages", "images", "hashed", "hits", "errors"];

  function cell(text) {
    const td = document.createElement("td");
    td.textContent = String(text);
    return td;
  }

  function row(crawl) {
    const tr = document.createElement("tr");
    tr.dataset.crawlId = String(crawl.id);
    const first = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/crawls/" + encodeURIComponent(String(crawl.id));
    link.textContent = String(crawl.id);
    first.appendChild(link);
    tr.appendChild(first);
    // As the page shows times: ISO 8601 UTC to the second.
    tr.appendChild(cell(String(crawl.started_at).replace(/\.\d+Z$/, "Z")));
    for (const name of COUNTERS) {
      const td = cell(crawl[name]);
      td.dataset.field = name;
      tr.appendChild(td);
    }
    tr.appendChild(cell(crawl.seed_ids.map((id) => "#" + id).join(" ")));
    return tr;
  }

  function show(crawls) {
    const rows = crawls.map(row);
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "none";
      const td = cell("No crawl is running.");
      td.colSpan = 9;
      tr.appendChild(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  async function poll() {
    if (document.hidden) { // nobody is looking: ask again later, not now
      window.setTimeout(poll, seconds * 1000);
      return;
    }
    try {
      const response = await fetch(url, {credentials: "same-origin",
                                          headers: {"Accept": "application/json"}});
      if (response.status === 401) {
        say("Signed out: reload the page to sign in again.");
        return; // stop polling
      }
      if (!response.ok) {
        say("Could not refresh (HTTP " + response.status + "); trying again.");
      } else {
        const page = await response.json();
        show(page.items);
        say("Updated " + new Date().toLocaleTimeString() + ".");
      }
    } catch (error) {
      say("Could not refresh (the server did not answer); trying again.");
    }
    window.setTimeout(poll, seconds * 1000);
  }

  window.setTimeout(poll, seconds * 1000);
}());
