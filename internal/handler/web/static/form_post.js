// Submits the OAuth form_post response automatically; the button remains
// for browsers without JavaScript.
document.getElementById("form-post").submit();
