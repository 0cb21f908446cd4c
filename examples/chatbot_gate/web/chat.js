// The Kauri chat page: log in (through the gate, which forwards to the user
// service) or paste a token, send messages to POST /api/v1/chat, show the
// remaining messages from the RateLimit fields, warn at 80% of a limit, and
// explain a 429 in a dialog with the reset time and the pricing page.
"use strict";

const STRINGS = {
  en: {
    pricing: "Plans and pricing",
    logout: "Log out",
    login_title: "Sign in to chat",
    email: "Email",
    password: "Password",
    login: "Sign in",
    or_token: "Or use an access token:",
    token: "Access token",
    use_token: "Use this token",
    message: "Your message",
    send: "Send",
    sending: "Sending…",
    exceeded_title: "Quota exceeded",
    upgrade: "See the plans",
    close: "Close",
    remaining_daily: (r, q) => `${r} of ${q} messages left today`,
    remaining_monthly: (r, q) => `${r} of ${q} messages left this month`,
    unlimited: "Unlimited messages",
    warning_daily: (used, q) => `You have used ${used} of your ${q} messages today. Consider upgrading your plan.`,
    spent_daily: (q) => `You have used all ${q} of today's messages.`,
    spent_monthly: (q) => `You have used all ${q} of this month's messages.`,
    exceeded: {
      daily: (n) => `You have reached your daily limit of ${n} messages.`,
      monthly: (n) => `You have reached your monthly limit of ${n} messages.`,
      tokens: (n) => `You have used this month's ${n.toLocaleString("en-GB")} tokens.`,
    },
    suggest: (tier) => `Upgrade to ${tier} to keep chatting.`,
    warning_monthly: (used, q) => `You have used ${used} of your ${q} messages this month. Consider upgrading your plan.`,
    warning_tokens: (pct) => `You have used ${pct}% of this month's tokens. Consider upgrading your plan.`,
    resets: (when) => `Your quota resets on ${when}.`,
    login_failed: "Incorrect email or password.",
    session_expired: "Your session has expired; please sign in again.",
    unreachable: "The service cannot be reached. Please try again.",
    failed_reply: "The reply could not be generated. This message was not counted; please try again.",
    busy: "The service is busy. Please try again in a moment.",
    invalid: "The message was refused: ",
  },
  fr: {
    pricing: "Offres et tarifs",
    logout: "Se déconnecter",
    login_title: "Connectez-vous pour discuter",
    email: "E-mail",
    password: "Mot de passe",
    login: "Se connecter",
    or_token: "Ou utilisez un jeton d’accès :",
    token: "Jeton d’accès",
    use_token: "Utiliser ce jeton",
    message: "Votre message",
    send: "Envoyer",
    sending: "Envoi…",
    exceeded_title: "Quota atteint",
    upgrade: "Voir les offres",
    close: "Fermer",
    remaining_daily: (r, q) => `${r} message${r > 1 ? "s" : ""} restant${r > 1 ? "s" : ""} sur ${q} aujourd’hui`,
    remaining_monthly: (r, q) => `${r} message${r > 1 ? "s" : ""} restant${r > 1 ? "s" : ""} sur ${q} ce mois-ci`,
    unlimited: "Messages illimités",
    warning_daily: (used, q) => `Vous avez utilisé ${used} de vos ${q} messages aujourd’hui. Pensez à passer à une offre supérieure.`,
    spent_daily: (q) => `Vous avez utilisé vos ${q} messages du jour.`,
    spent_monthly: (q) => `Vous avez utilisé vos ${q} messages du mois.`,
    exceeded: {
      daily: (n) => `Vous avez atteint votre limite quotidienne de ${n} messages.`,
      monthly: (n) => `Vous avez atteint votre limite mensuelle de ${n} messages.`,
      tokens: (n) => `Vous avez utilisé les ${n.toLocaleString("fr-FR")} jetons de ce mois.`,
    },
    suggest: (tier) => `Passez à l’offre ${tier} pour continuer à discuter.`,
    warning_monthly: (used, q) => `Vous avez utilisé ${used} de vos ${q} messages ce mois-ci. Pensez à passer à une offre supérieure.`,
    warning_tokens: (pct) => `Vous avez utilisé ${pct} % des jetons de ce mois. Pensez à passer à une offre supérieure.`,
    resets: (when) => `Votre quota sera renouvelé le ${when}.`,
    login_failed: "E-mail ou mot de passe incorrect.",
    session_expired: "Votre session a expiré ; veuillez vous reconnecter.",
    unreachable: "Le service est injoignable. Veuillez réessayer.",
    failed_reply: "La réponse n’a pas pu être générée. Ce message n’a pas été décompté ; veuillez réessayer.",
    busy: "Le service est occupé. Veuillez réessayer dans un instant.",
    invalid: "Le message a été refusé : ",
  },
};

const LANG = document.documentElement.lang === "fr" ? "fr" : "en";
const T = STRINGS[LANG];
const TOKEN_KEY = "kauri.chat.token";
const WARN_AT = 0.8;

const $ = (id) => document.getElementById(id);

function show(el, visible) {
  el.hidden = !visible;
}

function translatePage() {
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const s = T[el.dataset.i18n];
    if (typeof s === "string") el.textContent = s;
  }
  document.title = LANG === "fr" ? "Kauri — discussion" : "Kauri — chat";
}

// A Structured-Field list of the rate-limit draft: "daily";r=3;t=100, ...
// -> {daily: {r: 3, t: 100}, ...}. Unknown or malformed members are skipped.
function parseRateLimit(value) {
  const out = {};
  if (!value) return out;
  for (const member of value.split(",")) {
    const parts = member.trim().split(";");
    const name = parts.shift();
    if (!name || !/^"[^"]*"$/.test(name)) continue;
    const params = {};
    for (const p of parts) {
      const [k, v] = p.split("=");
      if (k && v !== undefined && /^-?\d+$/.test(v)) params[k.trim()] = parseInt(v, 10);
    }
    out[name.slice(1, -1)] = params;
  }
  return out;
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  render();
  if (t) refreshQuota();
}

let config = { login: false, pricing_url: null };

function render() {
  const signedIn = !!token();
  show($("login"), !signedIn);
  show($("chat"), signedIn);
  show($("logout"), signedIn);
  show($("login-form"), !signedIn && config.login);
  show($("or-token"), !signedIn && config.login);
  if (signedIn) $("message").focus();
}

function showError(el, text) {
  el.textContent = text;
  show(el, !!text);
}

function addMessage(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("messages").appendChild(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function updateQuota(response) {
  const state = parseRateLimit(response.headers.get("RateLimit"));
  const policy = parseRateLimit(response.headers.get("RateLimit-Policy"));
  const day = state.daily && policy.daily ? { r: state.daily.r, q: policy.daily.q } : null;
  const month = state.monthly && policy.monthly ? { r: state.monthly.r, q: policy.monthly.q } : null;
  const shown = day || month;
  if (shown) {
    $("remaining").textContent = day ? T.remaining_daily(day.r, day.q) : T.remaining_monthly(month.r, month.q);
    $("quota-meter").value = shown.q > 0 ? (shown.q - shown.r) / shown.q : 1;
    show($("quota-meter"), true);
  } else if (Object.keys(policy).length === 0) {
    $("remaining").textContent = T.unlimited;
    show($("quota-meter"), false);
  }
  // The warning names the limit closest to its end.
  let warning = "";
  let worst = 0;
  const consider = (name, item, text) => {
    if (!item || !(item.q > 0)) return;
    const used = item.q - item.r;
    const ratio = used / item.q;
    if (ratio >= WARN_AT && ratio > worst) {
      worst = ratio;
      warning = text(used, item.q, Math.floor(ratio * 100));
    }
  };
  consider("daily", day, (used, q) => (used >= q ? T.spent_daily(q) : T.warning_daily(used, q)));
  consider("monthly", month, (used, q) => (used >= q ? T.spent_monthly(q) : T.warning_monthly(used, q)));
  if (state.tokens && policy.tokens)
    consider("tokens", { r: state.tokens.r, q: policy.tokens.q }, (used, q, pct) => T.warning_tokens(pct));
  $("warning").textContent = warning;
  show($("warning"), !!warning);
}

function formatInstant(iso) {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return iso;
  return d.toLocaleString(LANG === "fr" ? "fr-FR" : "en-GB", {
    weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  });
}

function tierName(id) {
  return id ? id.charAt(0).toUpperCase() + id.slice(1) : "";
}

// The dialog's text in the page's language, from the denial's fields (the
// reset instant is shown once, in the reader's format); the server's own
// sentence when the limit is not one the page knows.
function denialText(body) {
  const known = T.exceeded[body.limit];
  if (!known || typeof body.limit_value !== "number") {
    return LANG === "fr" ? body.message_fr || body.message : body.message_en || body.message;
  }
  let text = known(body.limit_value);
  if (body.suggested_tier) text += " " + T.suggest(tierName(body.suggested_tier));
  return text;
}

function showQuotaDialog(body) {
  $("quota-dialog-message").textContent = denialText(body);
  $("quota-dialog-reset").textContent = body.resets_at ? T.resets(formatInstant(body.resets_at)) : "";
  const upgrade = $("quota-dialog-upgrade");
  if (config.pricing_url) {
    upgrade.href = config.pricing_url;
    show(upgrade, true);
  } else {
    show(upgrade, false);
  }
  const dialog = $("quota-dialog");
  if (!dialog.open) dialog.showModal();
}

async function refreshQuota() {
  if (!token()) return;
  try {
    const response = await fetch("/api/v1/chat/quota", { headers: { Authorization: "Bearer " + token() } });
    if (response.status === 401) {
      setToken(null);
      showError($("login-error"), T.session_expired);
    } else if (response.ok) {
      updateQuota(response);
    }
  } catch (e) {
    // The first answer to a message fills the line instead.
  }
}

async function readJson(response) {
  try {
    return await response.json();
  } catch (e) {
    return {};
  }
}

async function send(text) {
  const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  let response;
  for (let attempt = 0; ; ++attempt) {
    try {
      response = await fetch("/api/v1/chat", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Authorization: "Bearer " + token(),
          // A retry after a lost answer repeats the key: it is never counted twice.
          "Idempotency-Key": key,
        },
        body: JSON.stringify({ message: text }),
      });
    } catch (e) {
      if (attempt < 2) continue;
      throw e;
    }
    if (response.status === 409 && attempt < 5) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    return response;
  }
}

async function onSend(event) {
  event.preventDefault();
  const input = $("message");
  const text = input.value.trim();
  if (!text) return;
  showError($("chat-error"), "");
  const button = $("send");
  button.disabled = true;
  button.textContent = T.sending;
  const bubble = addMessage("user", text);
  input.value = "";
  try {
    const response = await send(text);
    const body = await readJson(response);
    if (response.headers.get("RateLimit")) updateQuota(response);
    if (response.ok) {
      addMessage("assistant", body.reply || "");
    } else if (response.status === 429) {
      // Not sent: the text goes back to the box for later.
      bubble.remove();
      input.value = text;
      showQuotaDialog(body);
    } else if (response.status === 401) {
      setToken(null);
      showError($("login-error"), T.session_expired);
    } else if (response.status === 502) {
      addMessage("failed", T.failed_reply);
    } else if (response.status === 422 || response.status === 400) {
      showError($("chat-error"), T.invalid + (body.detail || response.status));
    } else {
      showError($("chat-error"), T.busy);
    }
  } catch (e) {
    showError($("chat-error"), T.unreachable);
  } finally {
    button.disabled = false;
    button.textContent = T.send;
  }
}

async function onLogin(event) {
  event.preventDefault();
  showError($("login-error"), "");
  try {
    const response = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: $("email").value, password: $("password").value }),
    });
    const body = await readJson(response);
    if (response.ok && body.access_token) {
      $("password").value = "";
      setToken(body.access_token);
    } else if (response.status === 401 || response.status === 422) {
      showError($("login-error"), T.login_failed);
    } else {
      showError($("login-error"), T.unreachable);
    }
  } catch (e) {
    showError($("login-error"), T.unreachable);
  }
}

function onToken(event) {
  event.preventDefault();
  const t = $("token").value.trim();
  if (t) {
    $("token").value = "";
    showError($("login-error"), "");
    setToken(t);
  }
}

async function start() {
  translatePage();
  $("send-form").addEventListener("submit", onSend);
  $("login-form").addEventListener("submit", onLogin);
  $("token-form").addEventListener("submit", onToken);
  $("logout").addEventListener("click", () => setToken(null));
  $("quota-dialog-close").addEventListener("click", () => $("quota-dialog").close());
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("send-form").requestSubmit();
    }
  });
  try {
    const response = await fetch("/api/v1/chat/config");
    if (response.ok) config = await response.json();
  } catch (e) {
    // The page still works with a pasted token.
  }
  if (config.pricing_url) {
    $("pricing-link").href = config.pricing_url;
    show($("pricing-link"), true);
  }
  render();
  await refreshQuota();
  document.body.dataset.ready = "1";
}

start();
