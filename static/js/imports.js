// The import page: refuse a file over the site's limit before uploading it (the server would
// answer 413 without a page), and say that a long import is under way and how far it has got:
// while the upload's request runs, the page asks the server for the import's progress
// (?progress=<the form's key>, which the import writes a few times a second).
(function () {
  "use strict";

  function tooLarge(form, input) {
    var limit = Number(form.getAttribute("data-max-bytes"));
    var file = input.files && input.files[0];
    return Boolean(file && limit && file.size > limit);
  }

  function showError(form, input, message) {
    var field = input.closest(".field");
    var list = document.getElementById("id_file_error");
    if (!message) {
      if (list && list.hasAttribute("data-client")) {
        list.remove();
        input.removeAttribute("aria-invalid");
        field.classList.remove("has-error");
      }
      return;
    }
    if (!list) {
      list = document.createElement("ul");
      list.id = "id_file_error";
      list.className = "errorlist";
      field.insertBefore(list, input);
    }
    list.setAttribute("data-client", "1");
    list.innerHTML = "";
    var item = document.createElement("li");
    item.textContent = message;
    list.appendChild(item);
    field.classList.add("has-error");
    input.setAttribute("aria-invalid", "true");
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(list.id) === -1) {
      described.unshift(list.id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
  }

  var POLL_MS = 500;

  function shown(form, data) {
    var lang = document.documentElement.lang || undefined;
    var share = data.total ? Math.min(1, data.bytes / data.total) : 0;
    return form
      .getAttribute("data-progress")
      .replace("%(percent)s", new Intl.NumberFormat(lang, { style: "percent" }).format(share))
      .replace("%(lines)s", new Intl.NumberFormat(lang).format(data.lines));
  }

  function watch(form, busy) {
    var key = form.querySelector("[name=idempotency_key]");
    var bar = document.getElementById("import-progress");
    if (!key || !busy || !window.fetch) return;
    var url = window.location.pathname + "?progress=" + encodeURIComponent(key.value);
    var timer = window.setInterval(function () {
      window
        .fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (!data || !data.lines) return;
          busy.textContent = shown(form, data);
          if (bar && data.total) {
            bar.hidden = false;
            bar.value = Math.min(1, data.bytes / data.total);
          }
        })
        .catch(function () {});
    }, POLL_MS);
    // The report's page replaces this one; back from the cache, nothing is under way.
    window.addEventListener("pagehide", function () {
      window.clearInterval(timer);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("import-form");
    if (!form) return;
    var input = form.querySelector("input[type=file]");
    var busy = document.getElementById("import-busy");
    input.addEventListener("change", function () {
      showError(form, input, tooLarge(form, input) ? form.getAttribute("data-too-large") : "");
    });
    form.addEventListener("submit", function (event) {
      if (tooLarge(form, input)) {
        event.preventDefault();
        showError(form, input, form.getAttribute("data-too-large"));
        input.focus();
        return;
      }
      if (busy) busy.textContent = form.getAttribute("data-busy");
      watch(form, busy);
    });
    // Back to the page from the browser's cache: the import is no longer under way.
    window.addEventListener("pageshow", function () {
      if (busy) busy.textContent = "";
      var bar = document.getElementById("import-progress");
      if (bar) bar.hidden = true;
    });
  });
})();
