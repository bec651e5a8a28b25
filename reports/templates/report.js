// The raw records: the page carries the Evidence JSON once; a record is written out when opened.
(function () {
  // Indented JSON with each list of numbers or strings on one line (raw newlines are only structural).
  function pretty(value) {
    return JSON.stringify(value, null, 1).replace(/\[\n[^\[\]{}]*?\n\s*\]/g, function (list) {
      return "[" + list.slice(1, -1).trim().split(/,\n\s*/).join(", ") + "]";
    });
  }
  var data = JSON.parse(document.getElementById("evidence-json").textContent);
  document.querySelectorAll("details.raw").forEach(function (d) {
    d.addEventListener("toggle", function () {
      var pre = d.querySelector("pre");
      if (d.open && !pre.textContent) pre.textContent = pretty(data[Number(d.dataset.record)]);
    });
  });
  // Long expressions: typeset from the record when opened (their MathML is not written twice).
  document.querySelectorAll("details.long[data-record]").forEach(function (d) {
    d.addEventListener("toggle", function () {
      var box = d.querySelector(".math");
      var item = data[Number(d.dataset.record)].derivation[Number(d.dataset.step)];
      if (d.open && !box.firstChild) box.innerHTML = '<math display="block">' + item.mathml + "</math>";
    });
  });
  var link = document.getElementById("download");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 1)], {type: "application/json"}));
})();
