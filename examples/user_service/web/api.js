// The user service's JSON API as seen from the pages.
//
// Every call resolves to the parsed JSON body on a 2xx answer and rejects
// with an api_error otherwise, carrying the HTTP status and the service's
// {"detail": "..."} text, so a page can show the real reason. The access
// token lives in sessionStorage: it survives a reload but not the closing of
// the tab, and it is only ever sent to this origin.
"use strict";

window.kq = window.kq || {};

(function (kq) {
  const token_key = "kauri.access_token";
  const email_key = "kauri.email";

  class api_error extends Error {
    // `key` names the page's own text for the error, so the message can be
    // shown again in the other language; `detail` (the service's own words,
    // when it gave any) is what English pages show.
    constructor(status, message, key, values, detail) {
      super(message);
      this.status = status;  // 0 when the service could not be reached
      this.key = key || null;
      this.values = values || null;
      this.detail = detail || null;
    }
  }

  // FastAPI-style details are a string, or for validation errors a list of
  // {loc, msg} objects; both become one readable sentence.
  function detail_text(body) {
    const detail = body && body.detail;
    if (typeof detail === "string" && detail.length > 0) return detail;
    if (Array.isArray(detail) && detail.length > 0) {
      return detail.map((d) => (d && d.msg ? d.msg : JSON.stringify(d))).join("; ");
    }
    return null;
  }

  // The page's own name for the refusals a subscriber meets often, so they
  // read in French too; the service's detail is kept and shown in English.
  function known_error(path, status) {
    if (status === 401 && path === "/api/v1/auth/login") return "error.login_failed";
    if (status === 409 && path === "/api/v1/auth/register") return "error.email_taken";
    if (status === 404 && path === "/api/v1/subscription/upgrade") return "error.tier_not_found";
    if (status === 503) return "error.unavailable";
    return null;
  }

  function http_error(path, status, body) {
    const detail = detail_text(body);
    const key = known_error(path, status) || (detail ? null : "error.http");
    return new api_error(status, detail || kq.i18n.t(key, {status}), key, {status}, detail);
  }

  async function request(method, path, body, auth) {
    const headers = {Accept: "application/json"};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) {
      const token = get_token();
      if (token) headers.Authorization = "Bearer " + token;
    }
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (e) {
      throw new api_error(0, kq.i18n.t("error.network"), "error.network");
    }
    const text = await response.text();
    let parsed = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        parsed = null;  // not JSON (a proxy's error page): reported by status below
      }
    }
    if (!response.ok || parsed === null) throw http_error(path, response.status, parsed);
    return parsed;
  }

  function get_token() {
    try {
      return window.sessionStorage.getItem(token_key);
    } catch (e) {
      return null;
    }
  }

  function save_session(token, email) {
    window.sessionStorage.setItem(token_key, token);
    window.sessionStorage.setItem(email_key, email || "");
  }

  function clear_session() {
    window.sessionStorage.removeItem(token_key);
    window.sessionStorage.removeItem(email_key);
  }

  kq.api = {
    error: api_error,
    tiers: () => request("GET", "/api/v1/subscription/tiers"),
    register: (email, password) => request("POST", "/api/v1/auth/register", {email, password}),
    login: (email, password) => request("POST", "/api/v1/auth/login", {email, password}),
    quota: () => request("GET", "/api/v1/subscription/quota", undefined, true),
    upgrade: (target_tier) => request("POST", "/api/v1/subscription/upgrade", {target_tier}, true),
    subscription: () => request("GET", "/api/v1/subscription", undefined, true),
    payments: () => request("GET", "/api/v1/payments", undefined, true),
    history: (days) => request("GET", "/api/v1/usage/history?days=" + days, undefined, true),
    checkout: (tier, months) => request("POST", "/api/v1/payments/checkout", {tier, months}, true),
    has_session: () => Boolean(get_token()),
    session_email: () => window.sessionStorage.getItem(email_key) || "",
    save_session,
    clear_session,
  };
})(window.kq);
