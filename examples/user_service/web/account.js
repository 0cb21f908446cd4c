// The account page: log in or register, then the subscriber's quota (bars
// for today, this month and tokens), the 80% warning, the "quota exceeded"
// state with its reset time, and upgrade buttons that apply a higher tier at
// once. Every failure of the API is shown with the service's own detail.
"use strict";

(function (kq) {
  const {t, format_integer, format_limit, format_fcfa, format_instant} = kq.i18n;
  const $ = (id) => document.getElementById(id);

  let quota = null;  // last GET /subscription/quota answer
  let tiers = null;  // visible tiers, sorted by display order
  let notice = null;  // {key, values} of the last success message, redrawn on a language switch
  // The plan chosen on the pricing page (/account?plan=pro), offered first.
  const wanted_plan = new URLSearchParams(window.location.search).get("plan");

  function show(el, visible) {
    el.hidden = !visible;
  }

  const show_error = kq.i18n.show_error;

  function set_notice(key, values) {
    notice = key ? {key, values} : null;
    render_notice();
  }

  function render_notice() {
    const box = $("notice");
    box.textContent = notice ? t(notice.key, notice.values) : "";
    show(box, Boolean(notice));
  }

  function tier_name(tier) {
    return kq.i18n.language() === "fr" && tier.name_fr ? tier.name_fr : tier.name;
  }

  function show_auth(panel) {
    show($("dashboard"), false);
    show($("auth"), true);
    show($("login-panel"), panel !== "register");
    show($("register-panel"), panel === "register");
    const first = panel === "register" ? $("register-email") : $("login-email");
    first.focus();
  }

  function show_dashboard() {
    show($("auth"), false);
    show($("dashboard"), true);
  }

  // One bar: the visible "used / limit" text, the ARIA values and the fill.
  // An unlimited limit has no maximum: the bar stays empty and says so.
  function set_bar(name, used, limit) {
    const bar = $("bar-" + name);
    const text = t("account.of", {used: format_integer(used), limit: format_limit(limit)});
    $("text-" + name).textContent = text;
    bar.setAttribute("aria-valuenow", String(used));
    bar.setAttribute("aria-valuetext", text);
    let ratio = 0;
    if (limit === null || limit === undefined) {
      bar.removeAttribute("aria-valuemax");
      bar.dataset.unlimited = "true";
    } else {
      bar.setAttribute("aria-valuemax", String(limit));
      delete bar.dataset.unlimited;
      ratio = limit > 0 ? Math.min(1, used / limit) : 1;
    }
    bar.dataset.level = ratio >= 1 ? "full" : ratio >= 0.8 ? "high" : "normal";
    // A little use still shows: at least 1.5% of the track once anything is used.
    const percent = used > 0 ? Math.max(ratio * 100, 1.5) : 0;
    bar.firstElementChild.style.width = percent.toFixed(1) + "%";
  }

  // The instant the blocking limit lifts: the month's when a monthly message
  // or token limit is used up, the day's otherwise.
  function reset_instant(q) {
    const month_out = q.messages_remaining_month === 0 || (q.tokens_remaining_month !== null && q.tokens_remaining_month <= 0);
    return month_out ? q.monthly_resets_at : q.daily_resets_at;
  }

  function render_quota() {
    if (!quota) return;
    const q = quota;
    $("signed-in-as").textContent = t("account.signed_in_as", {email: kq.api.session_email()});
    $("plan-name").textContent = kq.i18n.language() === "fr" && q.tier_name_fr ? q.tier_name_fr : q.tier_name;
    $("plan-name").dataset.tier = q.subscription_tier;
    const status = q.subscription_status || "active";
    $("plan-status").textContent = t("account.status." + status);
    $("plan-status").dataset.status = status;

    set_bar("today", q.messages_today, q.messages_per_day_limit);
    set_bar("month", q.messages_this_month, q.messages_per_month_limit);
    set_bar("tokens", q.tokens_this_month, q.tokens_per_month_limit);

    const exceeded = Boolean(q.is_quota_exceeded || !q.can_send_message);
    const text = $("exceeded-text");
    text.replaceChildren();
    if (exceeded) {
      const when = reset_instant(q);
      const [before, after] = t("account.exceeded", {when: "\u0000"}).split("\u0000");
      const time = document.createElement("time");
      time.id = "reset-time";
      time.dateTime = when;
      time.textContent = format_instant(when);
      text.append(before, time, after || "");
    }
    show($("exceeded"), exceeded);
    show($("warning"), !exceeded && Boolean(q.warning_threshold_reached));
    render_upgrades();
  }

  function render_upgrades() {
    const box = $("upgrade-options");
    box.replaceChildren();
    if (!quota || !tiers) return;
    const current = tiers.find((tier) => tier.tier_id === quota.subscription_tier);
    const higher = tiers.filter((tier) =>
      current ? tier.display_order > current.display_order : tier.price_fcfa > 0 && tier.tier_id !== quota.subscription_tier);
    if (higher.length === 0) {
      const p = document.createElement("p");
      p.className = "muted";
      p.id = "top-plan";
      p.textContent = t("account.top_plan");
      box.append(p);
      return;
    }
    const preferred = higher.some((tier) => tier.tier_id === wanted_plan) ? wanted_plan : higher[0].tier_id;
    for (const tier of higher) {
      const option = document.createElement("div");
      option.className = "upgrade-option";
      const info = document.createElement("div");
      const name = document.createElement("p");
      name.className = "upgrade-name";
      name.textContent = tier_name(tier);
      const details = document.createElement("p");
      details.className = "muted";
      const per_day =
        tier.messages_per_day === null ? t("limit.per_day_unlimited") : t("limit.per_day", {n: format_integer(tier.messages_per_day)});
      details.textContent = format_fcfa(tier.price_fcfa) + " " + t("pricing.per_month") + " · " + per_day;
      info.append(name, details);
      const button = document.createElement("button");
      button.type = "button";
      button.className = tier.tier_id === preferred ? "button button-primary" : "button button-secondary";
      button.dataset.upgrade = tier.tier_id;
      button.textContent = t("account.upgrade_to", {name: tier_name(tier)});
      button.addEventListener("click", () => upgrade(tier));
      option.append(info, button);
      box.append(option);
    }
  }

  function set_busy(busy) {
    document.querySelectorAll("#dashboard button").forEach((b) => {
      b.disabled = busy;
    });
    $("dashboard").setAttribute("aria-busy", busy ? "true" : "false");
  }

  // A 401 means the token expired or was revoked: back to the login form,
  // saying why.
  function session_lost() {
    kq.api.clear_session();
    quota = null;
    set_notice(null);
    show_auth("login");
    show_error($("login-error"), {key: "account.session_expired"});
  }

  async function load() {
    show($("account-error"), false);
    set_busy(true);
    try {
      const [quota_answer, tiers_answer] = await Promise.allSettled([
        kq.api.quota(),
        tiers ? Promise.resolve(tiers) : kq.api.tiers(),
      ]);
      if (quota_answer.status === "rejected") {
        if (quota_answer.reason.status === 401) return session_lost();
        throw quota_answer.reason;
      }
      if (tiers_answer.status === "fulfilled") {
        const list = Array.isArray(tiers_answer.value) ? tiers_answer.value : tiers_answer.value.tiers;
        tiers = (list || []).filter((tier) => tier.is_visible !== false);
        tiers.sort((a, b) => (a.display_order || 0) - (b.display_order || 0));
      } else {
        show_error($("account-error"), tiers_answer.reason);
      }
      quota = quota_answer.value;
      show_dashboard();
      render_quota();
    } catch (e) {
      show_dashboard();
      show_error($("account-error"), e);
    } finally {
      set_busy(false);
    }
  }

  async function upgrade(tier) {
    show($("account-error"), false);
    set_notice(null);
    set_busy(true);
    try {
      const answer = await kq.api.upgrade(tier.tier_id);
      if (answer.success === false) throw new Error(answer.message);
      set_notice("account.upgraded", {name: tier_name(tier)});
      // The button was far down the page: bring the confirmation into view.
      $("notice").focus();
      window.scrollTo(0, 0);
    } catch (e) {
      if (e.status === 401) return session_lost();
      show_error($("account-error"), e);
    } finally {
      set_busy(false);
    }
    await load();
  }

  async function sign_in(email, password) {
    const answer = await kq.api.login(email, password);
    kq.api.save_session(answer.access_token, (answer.user && answer.user.email) || email);
  }

  function wire_form(form_id, error_id, submit_id, action) {
    $(form_id).addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = $(form_id);
      const error = $(error_id);
      show(error, false);
      $(submit_id).disabled = true;
      try {
        await action(form.elements.email.value.trim(), form.elements.password.value);
        form.reset();
        await load();
      } catch (e) {
        show_error(error, e);
      } finally {
        $(submit_id).disabled = false;
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    kq.i18n.init(() => {
      render_notice();
      render_quota();
    });
    wire_form("login-form", "login-error", "login-submit", async (email, password) => {
      set_notice(null);
      await sign_in(email, password);
    });
    wire_form("register-form", "register-error", "register-submit", async (email, password) => {
      await kq.api.register(email, password);
      await sign_in(email, password);
      set_notice("account.registered");
    });
    $("show-register").addEventListener("click", () => show_auth("register"));
    $("show-login").addEventListener("click", () => show_auth("login"));
    $("refresh").addEventListener("click", load);
    $("logout").addEventListener("click", () => {
      kq.api.clear_session();
      quota = null;
      set_notice(null);
      show_auth("login");
    });
    // Usage changes elsewhere (the chat): refresh when the tab comes back.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && kq.api.has_session()) load();
    });
    if (kq.api.has_session()) {
      load();
    } else {
      show_auth(new URLSearchParams(window.location.search).has("plan") ? "register" : "login");
    }
  });
})(window.kq);
