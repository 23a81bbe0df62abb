// live.js keeps a dashboard page current without reloading it; the
// dashboard's only script, served from the binary (no CDN, no library).
//
// The page's body names its stream of server-sent events (data-live). Each
// "patch" event carries HTML the server rendered for one element: it
// replaces the element with the same id or, when the page has none, goes at
// the start or the end of the element named by "into", if that element
// takes new rows (data-live-insert). No HTML is built here, so the server's
// templates stay the one place that escapes.
(function () {
  'use strict';
  var url = document.body.getAttribute('data-live');
  if (!url || !window.EventSource) {
    return;
  }
  var status = document.getElementById('live-status');
  var maxRows = 100; // rows a live list keeps: the rest are a page away
  var source = new EventSource(url);
  var quiet = null;

  function show(text, state) {
    if (!status) {
      return;
    }
    status.className = 'live ' + state;
    if (status.textContent !== text) { // a status region speaks each change
      status.textContent = text;
    }
  }

  source.addEventListener('open', function () {
    clearTimeout(quiet);
    show('Live', 'on');
  });
  source.addEventListener('error', function () {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream: the session ended. The reloaded
      // page says why (the login form).
      window.location.reload();
      return;
    }
    // The server ends each stream after a while and the browser reconnects
    // at once; only a reconnection that takes long is worth a word.
    clearTimeout(quiet);
    quiet = setTimeout(function () { show('Reconnecting…', 'off'); }, 3000);
  });
  // same reports whether el already shows html, apart from what the
  // reader changed (an opened <details>) or this script added (.fresh).
  function same(el, html) {
    var t = document.createElement('template');
    t.innerHTML = html;
    var a = el.cloneNode(true);
    a.classList.remove('fresh');
    if (a.getAttribute('class') === '') {
      a.removeAttribute('class');
    }
    a.querySelectorAll('details[open]').forEach(function (d) { d.removeAttribute('open'); });
    return a.isEqualNode(t.content.firstElementChild);
  }

  source.addEventListener('patch', function (e) {
    var p = JSON.parse(e.data);
    var old = document.getElementById(p.id);
    if (old) {
      if (same(old, p.html)) {
        return; // sent again after a reconnection: nothing new
      }
      var open = [].map.call(old.querySelectorAll('details'), function (d) { return d.open; });
      old.outerHTML = p.html;
      var now = document.getElementById(p.id);
      now.querySelectorAll('details').forEach(function (d, i) { d.open = !!open[i]; });
    } else {
      var into = p.into && document.getElementById(p.into);
      if (!into || into.getAttribute('data-live-insert') !== p.at) {
        return;
      }
      into.insertAdjacentHTML(p.at === 'start' ? 'afterbegin' : 'beforeend', p.html);
      var rows = into.querySelectorAll('tr:not(.empty)');
      for (var i = maxRows; i < rows.length; i++) {
        rows[i].remove();
      }
      var count = document.querySelector('[data-live-count="' + p.into + '"]');
      if (count) {
        count.textContent = String(Number(count.textContent) + 1);
      }
    }
    document.getElementById(p.id).classList.add('fresh');
  });
}());
