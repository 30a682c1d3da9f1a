// Trawl's only page script: copy buttons for crawled strings and tokens.
// Served from the package (no CDN, no build step); the CSP forbids inline script.
"use strict";

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function showStatus(button, text) {
  const original = button.dataset.label || button.textContent;
  button.dataset.label = original;
  button.textContent = text;
  window.setTimeout(() => { button.textContent = original; }, 1500);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button.copy[data-copy]");
  if (!button) {
    return;
  }
  const value = button.dataset.copy;
  const shown = button.parentElement.querySelector(".copyable-text");
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(value).then(
      () => showStatus(button, "Copied"),
      () => { if (shown) { selectText(shown); } showStatus(button, "Press Ctrl+C"); },
    );
  } else {
    // Plain HTTP off loopback has no clipboard API: select the text for the person.
    if (shown) {
      selectText(shown);
    }
    showStatus(button, "Press Ctrl+C");
  }
});
