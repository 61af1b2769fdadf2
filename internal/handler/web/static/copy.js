// Adds a working copy button to the access token shown once on
// /settings/access-tokens. Without JavaScript the button stays hidden and
// the token is a read-only field to select and copy by hand.
(function () {
  var button = document.getElementById("copy-token");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  if (!field) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var done = function () { if (status) status.textContent = button.getAttribute("data-copied"); };
    field.select();
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (document.execCommand("copy")) done();
      });
    } else if (document.execCommand("copy")) {
      done();
    }
  });
})();
