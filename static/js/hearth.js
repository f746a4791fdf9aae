// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Confirm destructive actions (withdraw, revoke).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
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
  document.addEventListener("DOMContentLoaded", syncContextRequirement);
})();
