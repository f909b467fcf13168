// The reports page's period: a number of days or the from/to dates, never both. Choosing days
// clears the dates; entering a date picks "from – to" in the list. (Without this script the dates
// win, as pages/reports.py reads them first.)
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("report-filters");
    if (!form) { return; }
    var days = form.querySelector("select[name=days]");
    var dates = form.querySelectorAll("input[type=date]");
    days.addEventListener("change", function () {
      if (days.value) { dates.forEach(function (d) { d.value = ""; }); }
    });
    dates.forEach(function (d) {
      d.addEventListener("change", function () { if (d.value) { days.value = ""; } });
    });
  });
})();
