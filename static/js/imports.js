// The import page: refuse a file over the site's limit before uploading it (the server would
// answer 413 without a page), and show how much of the file is sent. The import itself runs
// on a worker; its own page follows it (htmx).
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

  function percent(share) {
    var lang = document.documentElement.lang || undefined;
    return new Intl.NumberFormat(lang, { style: "percent" }).format(share);
  }

  // Send the form with XMLHttpRequest, to show how much of the file is uploaded (a 64 MB file
  // takes a while on a home connection). The server answers such a request with the import's
  // URL (JSON) to go to, or with the page and the form's errors, whose form replaces this one.
  // Without XMLHttpRequest's upload events the form is sent as a plain POST.
  function send(form, input, busy, bar, button) {
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("action") || window.location.pathname);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable || !event.total) return;
      var share = Math.min(1, event.loaded / event.total);
      bar.hidden = false;
      bar.value = share;
      busy.textContent = form.getAttribute("data-sending").replace("%(percent)s", percent(share));
    });
    function failed(message) {
      bar.hidden = true;
      button.disabled = false;
      busy.textContent = message;
    }
    xhr.addEventListener("load", function () {
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (xhr.status < 400 && type.indexOf("application/json") === 0) {
        window.location.assign(JSON.parse(xhr.responseText).url);
        return;
      }
      if (type.indexOf("text/html") === 0) {
        var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var fresh = page.getElementById("import-form");
        if (fresh) {
          var imported = document.importNode(fresh, true);
          // Refused for another field (a typo in its language, say): the file stays chosen,
          // so that fixing the field is all it takes. A refused file is not kept.
          var chosen = imported.querySelector("input[type=file]");
          if (chosen && chosen.getAttribute("aria-invalid") !== "true" && input.files) {
            try {
              chosen.files = input.files;
            } catch (ignored) {
              // A browser that cannot set a file input: the file is chosen again.
            }
          }
          form.replaceWith(imported);
          var replaced = document.getElementById("import-form");
          setUp(replaced);
          var invalid = replaced.querySelector("[aria-invalid=true]");
          if (invalid) invalid.focus();
          return;
        }
      }
      failed(form.getAttribute("data-failed").replace("%(status)s", String(xhr.status)));
    });
    xhr.addEventListener("error", function () {
      failed(form.getAttribute("data-lost"));
    });
    button.disabled = true;
    xhr.send(new FormData(form));
  }

  function setUp(form) {
    var input = form.querySelector("input[type=file]");
    var busy = document.getElementById("import-busy");
    var bar = document.getElementById("import-upload");
    var button = form.querySelector("button[type=submit]");
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
      // A required text field left empty is pointed out before the file is uploaded, not
      // after (the form is novalidate so that the server's messages show for the rest).
      var missing = Array.prototype.find.call(form.elements, function (field) {
        return field !== input && field.willValidate && !field.checkValidity();
      });
      if (missing) {
        event.preventDefault();
        missing.reportValidity();
        return;
      }
      busy.textContent = form.getAttribute("data-busy");
      if (window.XMLHttpRequest && window.FormData && window.DOMParser && bar) {
        event.preventDefault();
        send(form, input, busy, bar, button);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("import-form");
    if (!form) return;
    setUp(form);
    // Back to the page from the browser's cache: the upload is no longer under way.
    window.addEventListener("pageshow", function () {
      var busy = document.getElementById("import-busy");
      var bar = document.getElementById("import-upload");
      var button = document.querySelector("#import-form button[type=submit]");
      if (busy) busy.textContent = "";
      if (bar) bar.hidden = true;
      if (button) button.disabled = false;
    });
  });
})();
