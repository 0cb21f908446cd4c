// The account page: log in or register, then the subscriber's plan with its
// lifecycle (status, paid-until date, a scheduled change or cancellation),
// the quota (bars for today, this month and tokens), the 80% warning, the
// "quota exceeded" state with its reset time, a 30-day usage chart (an SVG
// drawn here), the payment history, and the buttons: with payments on, a
// renewal or an upgrade goes through a CinetPay checkout; without, an
// upgrade applies at once. Every failure of the API is shown with the
// service's own detail.
"use strict";

(function (kq) {
  const {t, format_integer, format_limit, format_fcfa, format_instant, format_day, format_money} = kq.i18n;
  const svg_ns = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  let quota = null;  // last GET /subscription/quota answer
  let tiers = null;  // visible tiers, sorted by display order
  let sub = null;  // GET /subscription: the lifecycle fields
  let payments = null;  // GET /payments, newest first
  let history = null;  // GET /usage/history?days=30
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
    render_subscription();
    render_history();
    render_payments();
    render_upgrades();
  }

  function tier_by_id(id) {
    return (tiers || []).find((tier) => tier.tier_id === id) || null;
  }

  function name_of(id) {
    const tier = tier_by_id(id);
    return tier ? tier_name(tier) : id;
  }

  function payments_on() {
    return Boolean(sub && sub.payments_enabled);
  }

  function render_subscription() {
    const fact = (id, value) => {
      show($("fact-" + id), Boolean(value));
      $("plan-" + id).textContent = value ? format_day(value) : "";
    };
    if (!sub) {
      ["end", "trial"].forEach((id) => fact(id, null));
      show($("plan-scheduled"), false);
      show($("plan-actions"), false);
      return;
    }
    const status = sub.subscription_status;
    fact("end", sub.subscription_end_date);
    fact("trial", status === "trialing" ? sub.trial_end_date : null);
    $("plan-zone").textContent = sub.time_zone || sub.service_time_zone || "UTC";
    const scheduled = $("plan-scheduled");
    let note = "";
    if (sub.cancel_at_period_end && sub.subscription_end_date) {
      note = t("account.cancel_scheduled", {date: format_day(sub.subscription_end_date)});
    } else if (sub.scheduled_tier && sub.subscription_end_date) {
      note = t("account.scheduled_change", {name: name_of(sub.scheduled_tier), date: format_day(sub.subscription_end_date)});
    } else if (status === "past_due" && sub.subscription_end_date) {
      note = t("account.grace_note", {date: format_day(sub.subscription_end_date)});
    }
    scheduled.textContent = note;
    show(scheduled, Boolean(note));
    // Renew: one more month of the current paid tier, through a checkout.
    const current = tier_by_id(sub.subscription_tier);
    const renewable = payments_on() && current && current.price_fcfa > 0 && status !== "expired" && status !== "canceled" && status !== "trialing";
    const renew = $("renew");
    renew.hidden = !renewable;
    if (renewable) {
      renew.textContent = t("account.renew", {name: tier_name(current), price: format_money(current.price_fcfa, sub.currency)});
      renew.dataset.tier = current.tier_id;
    }
    const cancellable = renewable && Boolean(sub.subscription_end_date) && !sub.cancel_at_period_end;
    $("cancel").hidden = !cancellable;
    show($("plan-actions"), renewable || cancellable);
  }

  // The 30-day chart: one bar per day, today's in gold, the busiest day's
  // count on the axis; each bar says its day and count (a <title>).
  function render_history() {
    const box = $("history-chart");
    box.replaceChildren();
    const summary = $("history-summary");
    summary.textContent = "";
    if (!history || !Array.isArray(history.days) || history.days.length === 0) return;
    const days = history.days;
    const width = 600;
    const height = 180;
    const left = 34;
    const bottom = 22;
    const top = 8;
    const plot_h = height - bottom - top;
    const max = Math.max(1, ...days.map((d) => d.messages));
    const step = (width - left) / days.length;
    const svg = document.createElementNS(svg_ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", t("account.history_label", {from: format_day(history.from), to: format_day(history.to)}));
    const el = (name, attrs, text) => {
      const node = document.createElementNS(svg_ns, name);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    el("line", {class: "axis", x1: left, y1: top + plot_h + 0.5, x2: width, y2: top + plot_h + 0.5});
    el("line", {class: "axis", x1: left, y1: top + 0.5, x2: width, y2: top + 0.5});
    el("text", {class: "label", x: left - 6, y: top + 4, "text-anchor": "end"}, format_integer(max));
    el("text", {class: "label", x: left - 6, y: top + plot_h + 4, "text-anchor": "end"}, "0");
    days.forEach((d, i) => {
      const h = d.messages > 0 ? Math.max(2, (d.messages / max) * plot_h) : 0;
      const bar = el("rect", {
        class: i === days.length - 1 ? "bar bar-today" : "bar",
        x: (left + i * step + step * 0.15).toFixed(1),
        y: (top + plot_h - h).toFixed(1),
        width: (step * 0.7).toFixed(1),
        height: h.toFixed(1),
        "data-date": d.date,
        "data-messages": d.messages,
      });
      const title = document.createElementNS(svg_ns, "title");
      title.textContent = t("account.history_bar", {date: format_day(d.date), n: format_integer(d.messages)});
      bar.append(title);
    });
    el("text", {class: "label", x: left, y: height - 6}, format_day(days[0].date, true));
    el("text", {class: "label", x: width, y: height - 6, "text-anchor": "end"}, format_day(days[days.length - 1].date, true));
    box.append(svg);
    const total = days.reduce((n, d) => n + d.messages, 0);
    summary.textContent = t("account.history_summary", {
      total: format_integer(total),
      from: format_day(history.from),
      to: format_day(history.to),
      max: format_integer(Math.max(...days.map((d) => d.messages))),
    });
  }

  function render_payments() {
    const body = $("payments-body");
    body.replaceChildren();
    const list = payments || [];
    show($("payments-empty"), payments !== null && list.length === 0);
    show($("payments-table"), list.length > 0);
    for (const p of list) {
      const row = document.createElement("tr");
      row.dataset.transaction = p.transaction_id;
      const cell = (text, cls) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        row.append(td);
        return td;
      };
      cell(format_day(p.created_at));
      cell(t(p.months === 1 ? "account.pay.month" : "account.pay.months", {name: name_of(p.tier), n: p.months}));
      cell(format_money(p.amount, p.currency));
      const status = cell(t("account.pay.status." + p.status), "pay-status");
      status.dataset.status = p.status;
      cell(p.period_end ? format_day(p.period_end) : "—");
      body.append(row);
    }
  }

  function render_upgrades() {
    const box = $("upgrade-options");
    box.replaceChildren();
    if (!quota || !tiers) return;
    document.querySelector("#upgrade .muted").textContent = t(payments_on() ? "account.upgrade_lead_paid" : "account.upgrade_lead");
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
      const [quota_answer, tiers_answer, sub_answer, payments_answer, history_answer] = await Promise.allSettled([
        kq.api.quota(),
        tiers ? Promise.resolve(tiers) : kq.api.tiers(),
        kq.api.subscription(),
        kq.api.payments(),
        kq.api.history(30),
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
      const failed = [sub_answer, payments_answer, history_answer].find((a) => a.status === "rejected");
      if (failed) show_error($("account-error"), failed.reason);
      sub = sub_answer.status === "fulfilled" ? sub_answer.value : null;
      payments = payments_answer.status === "fulfilled" ? payments_answer.value : null;
      history = history_answer.status === "fulfilled" ? history_answer.value : null;
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
      if (answer.payment_url) return go_to_checkout(answer);
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

  // CinetPay's payment page; back on /account (the return_url) the page
  // shows the payment once CinetPay's notification has been confirmed.
  function go_to_checkout(answer) {
    set_notice("account.redirecting");
    window.location.assign(answer.payment_url);
  }

  async function renew() {
    show($("account-error"), false);
    set_busy(true);
    try {
      go_to_checkout(await kq.api.checkout($("renew").dataset.tier, 1));
    } catch (e) {
      if (e.status === 401) return session_lost();
      show_error($("account-error"), e);
    } finally {
      set_busy(false);
    }
  }

  async function cancel() {
    show($("account-error"), false);
    set_busy(true);
    try {
      await kq.api.upgrade(sub.default_tier || "free");
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
    $("renew").addEventListener("click", renew);
    $("cancel").addEventListener("click", cancel);
    $("logout").addEventListener("click", () => {
      kq.api.clear_session();
      quota = null;
      sub = payments = history = null;
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
