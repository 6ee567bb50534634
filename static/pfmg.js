// Progressive enhancement only: every form works without JavaScript.
(function () {
  "use strict";

  // "Add another" buttons of formsets: clone the empty form, renumber it, bump TOTAL_FORMS.
  document.querySelectorAll("[data-add-form]").forEach(function (button) {
    button.addEventListener("click", function () {
      var prefix = button.dataset.addForm;
      var total = document.getElementById("id_" + prefix + "-TOTAL_FORMS");
      var index = parseInt(total.value, 10);
      var html = document.getElementById(button.dataset.template).innerHTML
        .replace(/__prefix__/g, String(index)).replace(/__num__/g, String(index + 1));
      var target = document.getElementById(button.dataset.target);
      target.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      var first = target.lastElementChild && target.lastElementChild.querySelector("input, select, textarea");
      if (first) { first.focus(); }
      bindSearch(target.lastElementChild);
    });
  });

  // Autocomplete over the real ontologies through the API; the browser's datalist shows the choices.
  function bindSearch(root) {
    (root || document).querySelectorAll("[data-hpo-search], [data-orpha-search]").forEach(function (input) {
      if (input.dataset.bound) { return; }
      input.dataset.bound = "1";
      var isHpo = input.hasAttribute("data-hpo-search");
      var list = document.getElementById(isHpo ? "hpo-options" : "orpha-options");
      var url = isHpo ? "/api/v1/hpo-terms/" : "/api/v1/orpha-diseases/";
      var status = document.getElementById("hpo-status");
      var timer = null;
      input.addEventListener("input", function () {
        clearTimeout(timer);
        var q = input.value.trim();
        if (q.length < 2 || /^(HP|ORPHA):\d+ — /.test(q)) { return; }
        timer = setTimeout(function () {
          fetch(url + "?q=" + encodeURIComponent(q), {credentials: "same-origin", headers: {"Accept": "application/json"}})
            .then(function (r) { return r.ok ? r.json() : {results: []}; })
            .then(function (data) {
              var results = data.results || data;
              list.innerHTML = "";
              results.forEach(function (item) {
                var option = document.createElement("option");
                option.value = item.id + " — " + item.name;
                list.appendChild(option);
              });
              if (status && isHpo) { status.textContent = results.length + " terme(s) HPO proposé(s)."; }
            });
        }, 200);
      });
    });
  }
  bindSearch(document);

  // A prescription step submitted after the session expired goes to the login page and would lose what was
  // typed. Keep the fields in this tab's sessionStorage (gone when the tab closes) while the form is sent,
  // and put them back only when the step page is reached again straight from the login page.
  var DRAFT_KEY = "pfmg-step-draft";
  var stepForm = document.querySelector("form[data-keep-draft]");
  var saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null"); } catch (e) { saved = null; }
  if (saved && !/\/accounts\/login\//.test(location.pathname)) {
    var fromLogin = /\/accounts\/login\//.test(document.referrer);
    if (stepForm && saved.path === location.pathname && fromLogin) {
      Object.keys(saved.values).forEach(function (name) {
        var field = stepForm.elements.namedItem(name);
        if (!field || field.type === "file" || field.type === "hidden") { return; }
        if (field.type === "checkbox") { field.checked = saved.values[name] === "on"; }
        else if (field.length !== undefined && field.tagName !== "SELECT") {
          Array.prototype.forEach.call(field, function (radio) { radio.checked = radio.value === saved.values[name]; });
        } else { field.value = saved.values[name]; }
      });
      var note = document.createElement("p");
      note.className = "notice";
      note.setAttribute("role", "status");
      note.textContent = stepForm.dataset.keepDraft;
      stepForm.insertBefore(note, stepForm.firstChild);
    }
    sessionStorage.removeItem(DRAFT_KEY);
  }
  if (stepForm) {
    stepForm.addEventListener("submit", function () {
      var values = {};
      new FormData(stepForm).forEach(function (value, name) {
        if (typeof value === "string" && name !== "csrfmiddlewaretoken") { values[name] = value; }
      });
      try { sessionStorage.setItem(DRAFT_KEY, JSON.stringify({path: location.pathname, values: values})); } catch (e) {}
    });
  }

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
