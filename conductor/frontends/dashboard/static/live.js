// Live updates: the server pushes each changed region (server-sent events) and this replaces it.
// The HTML comes from the server already escaped; nothing here builds markup from data.
(function () {
  var region = document.querySelector("[data-stream]");
  if (!region || !window.EventSource) { return; }
  var source = new EventSource(region.getAttribute("data-stream"));
  source.addEventListener("update", function (message) {
    var update = JSON.parse(message.data);
    region.innerHTML = update.html;
    region.setAttribute("data-seq", String(update.seq));
  });
  source.addEventListener("error", function () { document.body.classList.add("offline"); });
  source.addEventListener("open", function () { document.body.classList.remove("offline"); });
})();
