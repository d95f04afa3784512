// The console's small helpers; pages work without them (forms are plain HTML forms).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A form sent once: its submit buttons are disabled until the next page, so a double click
  // does not send the same step twice (the server refuses a repeated step anyway).
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (event) => {
      const message = form.dataset.confirm;
      if (message && !window.confirm(message)) {
        event.preventDefault();
        return;
      }
      for (const button of form.querySelectorAll("button[type=submit]")) {
        // After the submit is under way, so the clicked button's name/value is still sent.
        setTimeout(() => { button.disabled = true; }, 0);
      }
    });
  }
  // <button data-print> prints the page (documents, receipts).
  for (const button of document.querySelectorAll("[data-print]")) {
    button.addEventListener("click", () => window.print());
  }
});
