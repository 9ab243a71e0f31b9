// The dashboard's only script: live job rows, the header clock, and the controls, which call the control API
// (/__admin) so every action has one implementation. No framework, no build step.
"use strict";
(function () {
  const UI = { "x-mockserver-dashboard": "1" }; // lets the login cookie authorize changes (see admin_auth.py)

  async function call(method, path, body) {
    const options = { method: method, headers: Object.assign({}, UI), credentials: "same-origin" };
    if (body !== undefined) {
      options.headers["content-type"] = "application/json";
      options.body = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await fetch(path, options);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
    if (!response.ok) {
      throw new Error((data && data.message) || "HTTP " + response.status);
    }
    return data;
  }

  function say(text, bad) {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = text;
    box.className = bad ? "message bad" : "message";
    box.hidden = false;
  }

  // A message that outlives the reload an action ends with.
  function sayAfterReload(text) {
    sessionStorage.setItem("mockserver-message", text);
    location.reload();
  }
  const kept = sessionStorage.getItem("mockserver-message");
  if (kept) { sessionStorage.removeItem("mockserver-message"); say(kept, false); }

  function showClock(clock) {
    const iso = clock.iso.replace("+00:00", "Z");
    for (const el of document.querySelectorAll("[data-clock], #clock-now")) el.textContent = iso;
    const flag = document.getElementById("clock-frozen");
    if (flag) flag.hidden = !clock.frozen;
    const state = document.getElementById("clock-state");
    if (state) state.textContent = clock.frozen ? "frozen" : "running";
    const offset = document.getElementById("clock-offset");
    if (offset) offset.textContent = clock.offset.toFixed(3);
  }

  // Live updates: the job rows (a server-rendered fragment) and the clock, once a second, one request at a time.
  const rows = document.getElementById("job-rows");
  async function refresh() {
    try {
      if (document.hidden) {
        // a background tab polls nothing
      } else if (rows) {
        const headers = rows.dataset.etag ? { "if-none-match": rows.dataset.etag } : {};
        const response = await fetch(rows.dataset.live + location.search, { credentials: "same-origin", headers: headers });
        if (response.status === 304) {
          // unchanged since the last tick
        } else if (response.ok) {
          rows.dataset.etag = response.headers.get("etag") || "";
          rows.innerHTML = await response.text();
          const total = document.getElementById("total");
          const shown = document.getElementById("shown");
          if (total) total.textContent = response.headers.get("x-total");
          if (shown) shown.textContent = response.headers.get("x-shown");
        } else if (response.status === 401) {
          location.reload();
          return;
        }
      }
      if (!document.hidden && document.querySelector("[data-clock]")) showClock(await call("GET", "/__admin/clock"));
    } catch (e) {
      // the server may be restarting: try again on the next tick
    }
    setTimeout(refresh, 1000);
  }
  setTimeout(refresh, 1000);

  function number(value) {
    return value === "" ? undefined : Number(value);
  }

  const FAULT_NUMBERS = ["nth", "times", "probability", "status", "latency_ms", "at_progress"];
  const FAULT_EFFECT_FIELDS = {
    http: ["status", "error_code", "message"],
    job: ["outcome", "error_code", "message", "at_progress"],
    latency: ["latency_ms"],
    drop: [],
  };
  const FAULT_MATCH_FIELDS = ["surface", "method", "path", "tenant", "prompt", "nth", "times", "probability"];

  function faultRule(form) {
    const data = new FormData(form);
    const effect = data.get("effect");
    const rule = { effect: effect };
    for (const name of FAULT_MATCH_FIELDS.concat(FAULT_EFFECT_FIELDS[effect] || [])) {
      const raw = String(data.get(name) || "").trim();
      if (raw === "") continue;
      rule[name] = FAULT_NUMBERS.includes(name) ? number(raw) : raw;
    }
    if (rule.method) rule.method = rule.method.toUpperCase();
    return rule;
  }

  const actions = {
    freeze: async () => { showClock(await call("POST", "/__admin/clock/freeze")); say("The clock is frozen."); },
    resume: async () => { showClock(await call("POST", "/__admin/clock/resume")); say("The clock runs again."); },
    advance: async () => {
      const seconds = Number(document.getElementById("advance-seconds").value);
      showClock(await call("POST", "/__admin/clock/advance", { seconds: seconds }));
      say("The clock moved forward " + seconds + " s.");
    },
    profile: async () => {
      const result = await call("PUT", "/__admin/profile", { name: document.getElementById("profile").value });
      document.getElementById("profile-now").innerHTML = "";
      document.getElementById("profile-now").append("current: ", Object.assign(document.createElement("b"), { textContent: result.name }));
      say("Timing profile: " + result.name + ".");
    },
    "delete-fault": async (button) => {
      await call("DELETE", "/__admin/faults/" + encodeURIComponent(button.dataset.id));
      sayAfterReload("Deleted fault rule " + button.dataset.id + ".");
    },
    reset: async () => {
      if (!confirm("Forget every job, model, upload, fault rule and the journal?")) return;
      await call("POST", "/__admin/reset");
      sayAfterReload("The fake is back to its fresh state.");
    },
    import: async () => {
      const file = document.getElementById("import-file").files[0];
      if (!file) throw new Error("Choose a state file (JSON from Export) first.");
      const result = await call("PUT", "/__admin/state", await file.text());
      sayAfterReload("Imported " + result.imported + " objects.");
    },
    "clear-journal": async () => {
      await call("DELETE", "/__admin/requests");
      sayAfterReload("The journal is empty.");
    },
    copy: async (button) => {
      const text = button.dataset.text;
      try {
        await navigator.clipboard.writeText(text);
      } catch (e) {
        const area = Object.assign(document.createElement("textarea"), { value: text });
        document.body.append(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      say("Copied: " + text);
    },
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-action]");
    if (!button || !actions[button.dataset.action]) return;
    event.preventDefault();
    try {
      await actions[button.dataset.action](button);
    } catch (e) {
      say(e.message, true);
    }
  });

  const faultForm = document.getElementById("fault-form");
  if (faultForm) {
    faultForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const rule = await call("POST", "/__admin/faults", faultRule(faultForm));
        sayAfterReload("Added fault rule " + rule.id + ".");
      } catch (e) {
        say(e.message, true);
      }
    });
  }
})();
