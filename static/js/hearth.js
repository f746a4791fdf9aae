// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Confirm destructive actions (withdraw, revoke, hide, ban): the question is the clicked
  // button's data-confirm, else the form's, so one form's actions can ask or not.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question =
      (button && button.getAttribute("data-confirm")) ||
      (form.getAttribute && form.getAttribute("data-confirm"));
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Ctrl/Cmd+Enter submits the form the focus is in.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = event.target.form;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
    }
  });

  // Escape closes the phone menu and gives the focus back to its toggle.
  document.addEventListener("keydown", function (event) {
    var toggle = document.getElementById("nav-toggle");
    if (event.key === "Escape" && toggle && toggle.checked) {
      toggle.checked = false;
      toggle.focus();
    }
  });

  // On the Write page, mark the context as required for the categories that need it.
  function syncContextRequirement() {
    var checked = document.querySelector("input[name=category]:checked");
    var wrapper = document.querySelector("[data-context-field]");
    if (!wrapper) return;
    var required = checked && checked.getAttribute("data-context-required") === "1";
    var note = wrapper.querySelector(".context-required-note");
    var textarea = wrapper.querySelector("textarea");
    if (note) note.hidden = !required;
    if (textarea) textarea.setAttribute("aria-required", required ? "true" : "false");
    wrapper.classList.toggle("required", !!required);
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "category") syncContextRequirement();
  });

  // After a refused submit, take the focus to the first field that needs fixing, so a
  // keyboard or screen-reader user lands on it (its error is tied to it by aria-describedby).
  function focusFirstError() {
    var field = document.querySelector(".has-error input:not([type=hidden]), .has-error textarea, .has-error select");
    if (field) field.focus();
  }

  // "Copy" buttons (the new API token): shown only where the clipboard can be written.
  function enableCopyButtons() {
    if (!navigator.clipboard) return;
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.querySelector(button.getAttribute("data-copy"));
        if (!source) return;
        navigator.clipboard.writeText(source.textContent.trim()).then(function () {
          button.textContent = button.getAttribute("data-copied") || button.textContent;
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncContextRequirement();
    focusFirstError();
    enableCopyButtons();
  });
})();
