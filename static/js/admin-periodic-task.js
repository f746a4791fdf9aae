// The admin's periodic task form (django-celery-beat): under the crontab field's help, the
// chosen schedule in words. django-celery-beat ships this inline, which the site's
// Content-Security-Policy does not run (templates/admin/djcelery/change_periodictask_form.html).
"use strict";

(() => {
  const data = document.getElementById("readable-crontabs");
  const select = document.getElementById("id_crontab");
  const help = document.querySelector(".field-crontab .help");
  if (!data || !select || !help) return;
  const readable = JSON.parse(data.textContent);
  const translation = document.createElement("div");
  help.append(translation);
  const show = () => {
    const words = readable[select.value];
    translation.textContent = words ? `Translation: ${words}` : "";
  };
  // The read-only translation field says the same for the saved schedule: hidden, as the
  // original does (a style property, which the policy allows, unlike a style attribute).
  const field = document.querySelector(".field-crontab_translation");
  if (field) field.style.display = "none";
  select.addEventListener("change", show);
  show();
})();
