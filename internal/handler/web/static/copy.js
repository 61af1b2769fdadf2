// Copy buttons for the secrets shown once (access tokens, client secrets,
// API keys, recovery codes, one-time links). Each is a
// <button data-copy="ID" hidden> naming the element that holds the
// secret: a read-only field, or any element whose text is copied. Without
// JavaScript the buttons stay hidden and the secret is selected and copied
// by hand. Served from /static (CSP script-src 'self': no inline script).
(function () {
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var status = document.getElementById(button.getAttribute("data-status") || "");
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = field.tagName === "INPUT" || field.tagName === "TEXTAREA" ? field.value : field.innerText;
      var done = function () { if (status) status.textContent = button.getAttribute("data-copied"); };
      var byHand = function () {
        if (field.select) {
          field.select();
        } else {
          var range = document.createRange();
          range.selectNodeContents(field);
          var sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
        }
        if (document.execCommand("copy")) done();
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text.trim()).then(done, byHand);
      } else {
        byHand();
      }
    });
  });
})();
