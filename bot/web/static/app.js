// The personal parts of the archive: what a Telegram client passed the app in the URL
// fragment (tgWebAppData, signed by Telegram; tgWebAppThemeParams) is kept for the visit,
// and every personal call carries it as "Authorization: tma <initData>". Nothing is loaded
// from elsewhere; in a browser, without launch data, the personal parts stay hidden.
// Telegram's own client bridge (the Back button, haptics, ready/expand) is spoken directly,
// as Telegram documents it for apps that do not load telegram-web-app.js.
(() => {
  "use strict";
  const base = document.body.dataset.base;
  const store = window.sessionStorage;
  const launch = new URLSearchParams(location.hash.slice(1));
  if (launch.get("tgWebAppData")) {
    store.setItem("initData", launch.get("tgWebAppData"));
    if (launch.get("tgWebAppThemeParams")) store.setItem("theme", launch.get("tgWebAppThemeParams"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const initData = store.getItem("initData");

  // --- Telegram's client: events to it, events from it --------------------------------
  const post = (eventType, eventData = {}) => {
    if (!initData) return;  // an ordinary browser: nobody to tell
    const proxy = window.TelegramWebviewProxy;  // Android and iOS clients
    if (proxy && proxy.postEvent) proxy.postEvent(eventType, JSON.stringify(eventData));
    else if (window.external && "notify" in window.external) {  // Windows Phone, desktop
      window.external.notify(JSON.stringify({ eventType, eventData }));
    } else if (window.parent !== window) {  // web clients host the app in a frame
      window.parent.postMessage(JSON.stringify({ eventType, eventData }), "https://web.telegram.org");
    }
  };
  const handlers = { back_button_pressed: () => history.back() };
  window.Telegram = { WebView: { receiveEvent: (name, data) => handlers[name] && handlers[name](data) } };
  window.addEventListener("message", (event) => {
    try {
      const { eventType, eventData } = JSON.parse(event.data);
      if (handlers[eventType]) handlers[eventType](eventData);
    } catch (_) { /* not Telegram's */ }
  });
  const home = location.pathname === `${base}/` || location.pathname === base;
  post("web_app_ready");
  post("web_app_expand");
  post("web_app_setup_back_button", { is_visible: !home && history.length > 1 });
  const tap = () => post("web_app_trigger_haptic_feedback", { type: "impact", impact_style: "light" });
  const told = (outcome) => post("web_app_trigger_haptic_feedback", { type: "notification", notification_type: outcome });
  try {
    const theme = JSON.parse(store.getItem("theme") || "{}");
    for (const [key, value] of Object.entries(theme)) {
      if (/^#[0-9a-f]{3,8}$/i.test(value)) {
        document.documentElement.style.setProperty(`--tg-theme-${key.replace(/_/g, "-")}`, value);
      }
    }
  } catch (_) { /* no theme: the page's own colours */ }
  if (initData) {
    try {
      const user = JSON.parse(new URLSearchParams(initData).get("user") || "{}");
      const lang = (user.language_code || "ko").startsWith("ko") ? "ko" : "en";
      if (!document.cookie.includes(`lang=${lang}`)) {
        document.cookie = `lang=${lang}; path=${base || "/"}; max-age=31536000; samesite=strict`;
        if (document.body.dataset.lang !== lang) location.reload();
      }
    } catch (_) { /* keep the page's language */ }
  }

  const api = (path, options = {}) => fetch(`${base}/api/${path}`, {
    ...options,
    headers: { Authorization: `tma ${initData}`, "Content-Type": "application/json" },
  }).then((answer) => (answer.ok ? answer.json() : Promise.reject(answer.status)));

  const el = (tag, text, attributes = {}) => {
    const node = document.createElement(tag);
    if (text) node.textContent = text;
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    return node;
  };

  // A thumbnail that cannot be had leaves no gap.
  for (const img of document.querySelectorAll("img.thumb")) {
    if (img.complete && img.naturalWidth === 0) img.remove();
    else img.addEventListener("error", () => img.remove());
  }
  // An empty list of one's own says what would be there.
  const filled = (list, items) => {
    list.replaceChildren(...(items.length ? items : [el("li", list.dataset.none, { class: "none" })]));
  };

  const copy = document.getElementById("copy");
  if (copy) {
    copy.addEventListener("click", async () => {
      await navigator.clipboard.writeText(document.getElementById("bibtex").textContent);
      copy.textContent = copy.dataset.copied;
      told("success");
    });
  }

  const bookmark = document.getElementById("bookmark");
  if (bookmark && initData) {
    const id = document.querySelector("article").dataset.paper;
    const show = (saved) => {
      bookmark.dataset.state = saved ? "saved" : "unsaved";
      bookmark.textContent = saved ? bookmark.dataset.saved : bookmark.dataset.save;
      bookmark.hidden = false;
    };
    api(`saved/${id}`).then((body) => show(body.saved)).catch(() => { /* stays hidden */ });
    bookmark.addEventListener("click", () => {
      const saved = bookmark.dataset.state === "saved";
      api(`saved/${id}`, { method: saved ? "DELETE" : "PUT" }).then((body) => { tap(); show(body.saved); });
    });
  }

  const mine = document.getElementById("mine");
  if (mine && initData) {
    const remove = mine.dataset.remove;
    api("saved").then((body) => {  // shown once the server has taken the launch data
      document.getElementById("outside").hidden = true;
      mine.hidden = false;
      filled(document.getElementById("saved"), body.papers.map((paper) => {
        const item = el("li");
        item.append(el("a", paper.title, { href: `${base}/paper/${paper.id}`, class: "title" }));
        return item;
      }));
      for (const kind of ["follows", "watches"]) api(kind).then((rules) => showRules(kind, rules.rules));
    }).catch(() => { /* not signed for this bot, or too old: the page stays public */ });
    const showRules = (kind, rules) => {
      filled(document.getElementById(kind), rules.map((rule) => {
        const item = el("li", rule.text);
        const button = el("button", remove, { type: "button" });
        button.addEventListener("click", () => api(`${kind}/${rule.id}`, { method: "DELETE" })
          .then(() => api(kind)).then((body) => { tap(); showRules(kind, body.rules); }));
        item.append(button);
        return item;
      }));
    };
    const refused = document.getElementById("refused");
    for (const form of document.querySelectorAll("form.add")) {
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const kind = form.dataset.rules;
        refused.hidden = true;
        fetch(`${base}/api/${kind}`, {
          method: "POST",
          headers: { Authorization: `tma ${initData}`, "Content-Type": "application/json" },
          body: JSON.stringify({ text: form.elements.text.value }),
        }).then(async (answer) => {
          const body = await answer.json();
          if (answer.ok) {
            form.reset();
            told("success");
            showRules(kind, body.rules);
          } else {
            refused.textContent = mine.dataset[body.code] || body.error;
            refused.hidden = false;
            told("error");
          }
        });
      });
    }
  }
})();
