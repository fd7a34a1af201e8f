// certward console: small progressive enhancements (no inline scripts: the CSP forbids them).
"use strict";
(function () {
  // A form with data-confirm asks before it is sent (e.g. revoking a certificate).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  });
  // After a refused form, move the keyboard focus to the list of errors.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.querySelector(".errors-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
