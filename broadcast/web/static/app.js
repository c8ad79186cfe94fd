// Small progressive enhancements: live progress, SMS counter, reach count, script preview, clips, copy.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  var lang = document.documentElement.lang === "en" ? "en-GB" : "vi-VN";
  var fmt = new Intl.NumberFormat(lang);
  var money = new Intl.NumberFormat(lang, { maximumFractionDigits: 4 });

  function post(url, data) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(data)
    }).then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }
  function debounce(fn, ms) {
    var timer;
    return function () { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }
  function texts() {
    var node = document.getElementById("i18n");
    return node ? JSON.parse(node.textContent) : {};
  }

  // Live progress of campaigns (dashboard, campaign page).
  var bars = document.querySelectorAll("[data-progress]");
  if (bars.length) {
    var ids = Array.prototype.map.call(bars, function (b) { return b.dataset.progress; }).join(",");
    var statusText = {};
    var refresh = function () {
      fetch("/ui/progress?ids=" + ids, { credentials: "same-origin" }).then(function (r) { return r.json(); })
        .then(function (data) {
          bars.forEach(function (bar) {
            var p = data[bar.dataset.progress];
            if (!p) { return; }
            var meter = bar.querySelector("progress");
            meter.max = p.total || 1; meter.value = p.done;
            ["done", "total", "delivered", "failed", "waiting"].forEach(function (k) {
              var el = bar.querySelector('[data-f="' + k + '"]');
              if (el) { el.textContent = fmt.format(p[k]); }
            });
            var why = bar.querySelector('[data-f="why"]');
            if (why) { why.textContent = p.why || ""; why.hidden = !p.why; }
            var st = bar.querySelector('[data-f="status"]');
            if (st) { statusText[p.status] = statusText[p.status] || st.textContent; st.dataset.status = p.status; }
          });
        }).catch(function () {});
    };
    setInterval(refresh, 3000);
  }

  // SMS counter: characters, segments, encoding and cost, as typed and without diacritics.
  var sms = document.getElementById("sms_text") || document.getElementById("answer");
  var stats = document.getElementById("sms-stats");
  if (sms && stats) {
    var strip = document.getElementById("strip_diacritics");
    var preview = document.getElementById("sms-stripped");
    var update = function () {
      post("/ui/sms/estimate", { text: sms.value }).then(function (data) {
        ["as_typed", "stripped"].forEach(function (version) {
          var row = stats.querySelector('[data-version="' + version + '"]');
          if (!row) { return; }
          var e = data[version];
          row.querySelector('[data-e="characters"]').textContent = fmt.format(e.characters);
          row.querySelector('[data-e="segments"]').textContent = fmt.format(e.segments);
          row.querySelector('[data-e="encoding"]').textContent = e.encoding;
          var cost = row.querySelector('[data-e="cost"]');
          if (cost) { cost.textContent = money.format(e.cost); }
          row.classList.toggle("chosen", strip ? (version === "stripped") === strip.checked : true);
        });
        if (preview) { preview.textContent = data.stripped.text || "—"; }
      }).catch(function () {});
    };
    sms.addEventListener("input", debounce(update, 250));
    if (strip) { strip.addEventListener("change", update); }
    update();
  }

  // Audience picker: live count of reachable residents.
  var composer = document.getElementById("composer");
  var reach = document.getElementById("reach");
  if (composer && reach) {
    var values = function (name) {
      return Array.prototype.map.call(composer.querySelectorAll('input[name="' + name + '"]:checked'),
        function (i) { return i.value; });
    };
    var count = function () {
      post("/ui/audience/count", {
        communes: values("communes"), groups: values("groups").map(Number), languages: values("languages")
      }).then(function (data) {
        reach.querySelector('[data-e="reachable"]').textContent = fmt.format(data.reachable);
      }).catch(function () {});
    };
    composer.addEventListener("change", function (ev) {
      if (["communes", "groups", "languages"].indexOf(ev.target.name) >= 0) { count(); }
    });
    count();

    // Schedule picker: show only the fields of the chosen kind.
    var showWhen = function () {
      var chosen = composer.querySelector('input[name="schedule_kind"]:checked');
      var kind = chosen ? chosen.value : "none";
      composer.querySelectorAll("[data-when]").forEach(function (el) {
        el.hidden = el.dataset.when.split(" ").indexOf(kind) < 0;
      });
    };
    composer.addEventListener("change", function (ev) { if (ev.target.name === "schedule_kind") { showWhen(); } });
    showWhen();
  }

  // Audio scripts (loudspeaker, voice call): what the speech engine will read.
  var previewScript = function (script, normalized) {
    if (!script || !normalized) { return null; }
    var normalize = function () {
      post("/ui/audio/normalize", { text: script.value }).then(function (data) {
        normalized.textContent = data.text || "—";
      }).catch(function () {});
    };
    script.addEventListener("input", debounce(normalize, 400));
    normalize();
    return normalize;
  };
  previewScript(document.getElementById("script"), document.getElementById("script-normalized"));
  var voiceScript = document.getElementById("voice_script");
  var voicePreview = previewScript(voiceScript, document.getElementById("voice-normalized"));
  // "Use the loudspeaker script" for the call: copy it, then let the officer shorten it.
  var useScript = document.getElementById("use-loudspeaker-script");
  if (useScript && voiceScript) {
    useScript.addEventListener("click", function () {
      var source = document.getElementById(useScript.dataset.from);
      if (!source) { return; }
      voiceScript.value = source.value;
      if (voicePreview) { voicePreview(); }
      voiceScript.focus();
    });
  }

  // Rendered clips of a campaign: status, then a player and a download link once ready.
  var clips = document.getElementById("clips");
  if (clips) {
    var words = texts();
    var poll = function () {
      fetch("/ui/campaigns/" + clips.dataset.campaign + "/clips", { credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(function (data) {
          clips.textContent = "";
          var pending = false;
          data.items.forEach(function (c) {
            var p = document.createElement("p");
            p.textContent = words["clip." + c.status] || c.status;
            clips.appendChild(p);
            if (c.url) {
              var audio = document.createElement("audio");
              audio.controls = true; audio.preload = "none"; audio.src = c.url;
              clips.appendChild(audio);
              var a = document.createElement("a");
              a.href = c.url; a.textContent = words["clip.download"] || "↓"; a.setAttribute("download", "");
              clips.appendChild(a);
            }
            if (c.status === "pending" || c.status === "rendering") { pending = true; }
          });
          if (pending) { setTimeout(poll, 1500); }
        }).catch(function () {});
    };
    poll();
  }

  // Copy an address (RSS feed) to the clipboard.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.dataset.copy);
      var done = function () { button.textContent = button.dataset.done; };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });
})();
