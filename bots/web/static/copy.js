// Copy buttons put a file's post text on the clipboard. Without this script the page works all the same: the
// buttons stay hidden and the text can be selected and copied by hand.
"use strict";

function selectAndCopy(field) {
  field.focus();
  field.select();
  try {
    return document.execCommand("copy");
  } catch (error) {
    return false;
  }
}

function showResult(button, copied) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = copied ? "Copied" : "Select the text and copy it";
  button.classList.toggle("done", copied);
  window.setTimeout(() => {
    button.textContent = label;
    button.classList.remove("done");
  }, 2000);
}

function copyFor(button) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) {
    return;
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(
      () => showResult(button, true),
      () => showResult(button, selectAndCopy(field)),
    );
  } else {
    // Plain http on another host is no secure context: the clipboard API is missing there.
    showResult(button, selectAndCopy(field));
  }
}

for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", () => copyFor(button));
}
