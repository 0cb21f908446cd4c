// The pricing page: one card per visible tier, in the service's display
// order, with its FCFA price, limits, features and a call to action that
// leads to the account page (where a subscriber logs in and upgrades).
"use strict";

(function (kq) {
  const {t, format_fcfa, format_integer} = kq.i18n;
  const feature_order = ["document_sourcing", "pdf_generation", "priority_support", "api_access"];
  // The tier marked as the usual choice; absent from the list, no badge shows.
  const highlighted_tier = "pro";

  let tiers = null;  // the last answer of GET /subscription/tiers, sorted

  function element(tag, class_name, text) {
    const el = document.createElement(tag);
    if (class_name) el.className = class_name;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function tier_name(tier) {
    return kq.i18n.language() === "fr" && tier.name_fr ? tier.name_fr : tier.name;
  }

  // "snake_case_key" -> "Snake case key", for features this page has no text for.
  function feature_label(key) {
    const known = "feature." + key;
    const text = t(known);
    if (text !== known) return text;
    const words = key.replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function limit_line(value, key) {
    return value === null || value === undefined ? t(key + "_unlimited") : t(key, {n: format_integer(value)});
  }

  function render_card(tier) {
    const card = element("article", "tier-card");
    card.dataset.tier = tier.tier_id;
    if (tier.tier_id === highlighted_tier) {
      card.classList.add("tier-card-highlight");
      card.append(element("p", "badge", t("pricing.popular")));
    }
    const heading = element("h2", "tier-name", tier_name(tier));
    heading.id = "tier-" + tier.tier_id;
    card.setAttribute("aria-labelledby", heading.id);
    card.append(heading);

    const price = element("p", "tier-price");
    price.append(element("span", "price-amount", format_fcfa(tier.price_fcfa)));
    price.append(element("span", "price-period", t(tier.price_fcfa === 0 ? "pricing.free" : "pricing.per_month")));
    card.append(price);

    const limits = element("ul", "tier-limits");
    limits.append(element("li", "limit", limit_line(tier.messages_per_day, "limit.per_day")));
    limits.append(element("li", "limit", limit_line(tier.messages_per_month, "limit.per_month")));
    limits.append(element("li", "limit", limit_line(tier.tokens_per_month, "limit.tokens")));
    card.append(limits);

    const features = element("ul", "tier-features");
    const keys = Object.keys(tier.features || {});
    keys.sort((a, b) => {
      const ia = feature_order.indexOf(a);
      const ib = feature_order.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    for (const key of keys) {
      const enabled = Boolean(tier.features[key]);
      const item = element("li", enabled ? "feature feature-on" : "feature feature-off");
      item.dataset.feature = key;
      item.append(element("span", "feature-mark", enabled ? "✓" : "–"));
      item.lastChild.setAttribute("aria-hidden", "true");
      item.append(element("span", "feature-label", feature_label(key)));
      item.append(element("span", "visually-hidden", " (" + t(enabled ? "feature.included" : "feature.not_included") + ")"));
      features.append(item);
    }
    card.append(features);

    const cta = element("a", tier.tier_id === highlighted_tier ? "button button-primary" : "button button-secondary");
    cta.href = "/account?plan=" + encodeURIComponent(tier.tier_id);
    cta.textContent = tier.price_fcfa === 0 ? t("pricing.cta_free") : t("pricing.cta_paid", {name: tier_name(tier)});
    cta.dataset.cta = tier.tier_id;
    card.append(cta);
    return card;
  }

  function render() {
    if (!tiers) return;
    const grid = document.getElementById("tiers");
    grid.replaceChildren(...tiers.map(render_card));
    grid.dataset.count = String(tiers.length);
  }

  async function load() {
    const loading = document.getElementById("pricing-loading");
    try {
      const body = await kq.api.tiers();
      const list = Array.isArray(body) ? body : body.tiers;
      if (!Array.isArray(list)) throw new kq.api.error(200, t("error.http", {status: 200}), "error.http", {status: 200});
      tiers = list.filter((tier) => tier.is_visible !== false);
      tiers.sort((a, b) => (a.display_order || 0) - (b.display_order || 0));
      render();
    } catch (e) {
      kq.i18n.show_error(document.getElementById("pricing-error"), e);
    } finally {
      loading.hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    kq.i18n.init(render);
    load();
  });
})(window.kq);
