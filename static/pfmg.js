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

  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
})();
