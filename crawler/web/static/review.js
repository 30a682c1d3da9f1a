// The review queue's keys: j/k move, c confirm, r reject (asks for a note), n claim the
// next batch, ? help. Every action submits the item's own form (the page works without
// this script); served from the package, no inline script, so the CSP holds.
"use strict";

(function () {
  const queue = document.getElementById("queue");
  if (!queue) {
    return;
  }
  const items = () => Array.from(queue.querySelectorAll("article.item"));
  const rejectDialog = document.getElementById("reject-dialog");
  const rejectNote = document.getElementById("reject-note");
  const helpDialog = document.getElementById("help-dialog");
  let current = 0;
  let busy = false;

  function select(index) {
    const all = items();
    if (all.length === 0) {
      return;
    }
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((item, n) => item.classList.toggle("selected", n === current));
    all[current].setAttribute("aria-current", "true");
    all.forEach((item, n) => { if (n !== current) { item.removeAttribute("aria-current"); } });
    all[current].focus({ preventScroll: true });
    all[current].scrollIntoView({ block: "nearest" });
  }

  function selected() {
    return items()[current] || null;
  }

  function submit(form) {
    if (busy || !form) {
      return;
    }
    busy = true;
    form.submit();
  }

  function askReject() {
    const item = selected();
    if (!item) {
      return;
    }
    document.getElementById("reject-hit").textContent = item.dataset.hit;
    rejectNote.value = item.querySelector(".reject-form input.note").value;
    rejectDialog.showModal();
    rejectNote.focus();
  }

  rejectDialog.addEventListener("close", () => {
    if (rejectDialog.returnValue !== "reject") {
      return;
    }
    const form = selected() && selected().querySelector(".reject-form");
    if (form) {
      form.querySelector("input.note").value = rejectNote.value;
      submit(form);
    }
  });
  document.getElementById("reject-cancel").addEventListener("click", () => {
    rejectDialog.close("cancel");
  });
  queue.addEventListener("click", (event) => {
    const item = event.target.closest("article.item");
    if (item) {
      const index = items().indexOf(item);
      if (index !== current) {
        select(index);
      }
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || busy) {
      return;
    }
    if (rejectDialog.open || helpDialog.open) {
      return; // the dialogs take their own keys (Enter, Esc)
    }
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input, textarea, select")) {
      return; // typing a note
    }
    const actions = {
      j: () => select(current + 1),
      k: () => select(current - 1),
      c: () => { const item = selected(); if (item) { submit(item.querySelector(".confirm-form")); } },
      r: askReject,
      n: () => submit(document.getElementById("claim-form")),
      "?": () => helpDialog.showModal(),
    };
    const action = actions[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  select(0);
}());
