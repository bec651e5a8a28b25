// The raw records: the page carries the Evidence JSON once; a record is written out when opened.
(function () {
  var data = JSON.parse(document.getElementById("evidence-json").textContent);
  document.querySelectorAll("details.raw").forEach(function (d) {
    d.addEventListener("toggle", function () {
      var pre = d.querySelector("pre");
      if (d.open && !pre.textContent) pre.textContent = JSON.stringify(data[Number(d.dataset.record)], null, 1);
    });
  });
  var link = document.getElementById("download");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(data, null, 1)], {type: "application/json"}));
})();
