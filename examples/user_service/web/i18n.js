// Language, texts and number/date formatting shared by the pages.
//
// The language is English or French. The server writes the language it chose
// from Accept-Language into <html lang="...">; a choice made with the switch
// is remembered in localStorage and wins from then on. Pages call
// kq.i18n.init(onChange) once; onChange(lang) runs after every switch so a
// page can redraw what it built from API data.
"use strict";

window.kq = window.kq || {};

(function (kq) {
  const storage_key = "kauri.lang";
  const supported = ["en", "fr"];

  // U+202F NARROW NO-BREAK SPACE: the thousands separator used in French
  // typography and across Francophone Africa ("7 000 FCFA"). It never
  // breaks a price across two lines.
  const group_separator = "\u202f";
  // U+00A0 NO-BREAK SPACE between a number and its unit.
  const unit_separator = "\u00a0";

  const texts = {
    en: {
      "nav.skip": "Skip to content",
      "nav.pricing": "Pricing",
      "nav.account": "My account",
      "lang.label": "Language",
      "pricing.title": "Simple plans, prices in FCFA",
      "pricing.lead": "Start free and upgrade when you need more. Monthly prices in FCFA; a new plan applies at once.",
      "pricing.per_month": "per month",
      "pricing.free": "per month, no card needed",
      "pricing.loading": "Loading the plans…",
      "pricing.popular": "Recommended",
      "pricing.cta_free": "Start for free",
      "pricing.cta_paid": "Choose {name}",
      "pricing.footnote": "Daily limits start again at midnight, monthly limits on the first day of each month.",
      "limit.per_day": "{n} messages per day",
      "limit.per_month": "{n} messages per month",
      "limit.tokens": "{n} tokens per month",
      "limit.per_day_unlimited": "Unlimited messages per day",
      "limit.per_month_unlimited": "Unlimited messages per month",
      "limit.tokens_unlimited": "Unlimited tokens",
      "limit.unlimited": "Unlimited",
      "feature.document_sourcing": "Answers with their source documents",
      "feature.pdf_generation": "PDF export of answers",
      "feature.priority_support": "Priority support",
      "feature.api_access": "API access",
      "feature.included": "included",
      "feature.not_included": "not included",
      "account.title": "My account",
      "account.login_title": "Log in",
      "account.login_lead": "Log in to see your quota and change your plan.",
      "account.register_title": "Create an account",
      "account.register_lead": "You start on the free plan, no card needed.",
      "account.email": "Email address",
      "account.password": "Password",
      "account.password_hint": "At least 8 characters.",
      "account.login": "Log in",
      "account.register": "Create my account",
      "account.to_register": "No account yet? Create one",
      "account.to_login": "Already registered? Log in",
      "account.logout": "Log out",
      "account.refresh": "Refresh",
      "account.signed_in_as": "Signed in as {email}",
      "account.plan": "Your plan",
      "account.status.active": "Active",
      "account.status.trialing": "Trial",
      "account.status.past_due": "Payment overdue",
      "account.status.canceled": "Canceled",
      "account.status.expired": "Expired",
      "account.usage_title": "Your usage",
      "account.bar.today": "Messages today",
      "account.bar.month": "Messages this month",
      "account.bar.tokens": "Tokens this month",
      "account.of": "{used} / {limit}",
      "account.warning": "You have used 80% or more of your quota. Upgrade to keep chatting without interruption.",
      "account.exceeded_title": "Quota exceeded",
      "account.exceeded": "You cannot send more messages for now. Your quota resets on {when}.",
      "account.exceeded_upgrade": "Upgrade your plan to continue right away.",
      "account.upgrade_title": "Upgrade your plan",
      "account.upgrade_lead": "The new plan applies at once.",
      "account.upgrade_lead_paid": "You pay with CinetPay (Mobile Money or card); the new plan applies once the payment is confirmed.",
      "account.upgrade_to_free": "Back to {name} at the end of the period",
      "account.upgrade_to": "Upgrade to {name}",
      "account.upgraded": "You are now on the {name} plan.",
      "account.top_plan": "You are on our highest plan.",
      "account.loading": "Loading…",
      "account.registered": "Account created. Welcome!",
      "account.session_expired": "Your session has expired. Please log in again.",
      "account.end_date": "Paid until",
      "account.trial_end": "Trial until",
      "account.time_zone": "Daily reset at midnight in",
      "account.cancel": "Cancel at period end",
      "account.renew": "Renew {name}: 1 month, {price}",
      "account.redirecting": "Taking you to CinetPay to pay…",
      "account.cancel_scheduled": "Your plan stays active until {date}, then you move to the free plan.",
      "account.scheduled_change": "Your plan changes to {name} on {date}.",
      "account.canceled_note": "Canceled: your plan ends on {date}, then the free plan applies.",
      "account.grace_note": "Your paid period ended on {date}. Renew now to keep your plan.",
      "account.history_title": "Messages over the last 30 days",
      "account.history_summary": "{total} messages from {from} to {to}; busiest day: {max}.",
      "account.history_label": "Messages per day from {from} to {to}",
      "account.history_bar": "{date}: {n} messages",
      "account.payments_title": "Payments",
      "account.payments_empty": "No payments yet.",
      "account.pay.date": "Date",
      "account.pay.plan": "Plan",
      "account.pay.amount": "Amount",
      "account.pay.status": "Status",
      "account.pay.until": "Paid until",
      "account.pay.month": "{name}, 1 month",
      "account.pay.months": "{name}, {n} months",
      "account.pay.status.pending": "Pending",
      "account.pay.status.applied": "Paid",
      "account.pay.status.failed": "Failed",
      "error.network": "The service cannot be reached. Check your connection and try again.",
      "error.http": "The service answered with an error ({status}).",
      "error.login_failed": "Incorrect email or password.",
      "error.email_taken": "An account already exists for this email address.",
      "error.tier_not_found": "This plan is not available.",
      "error.unavailable": "The service is briefly unavailable. Please try again in a moment.",
      "footer.text": "Kauri: quotas by subscription plan.",
    },
    fr: {
      "nav.skip": "Aller au contenu",
      "nav.pricing": "Tarifs",
      "nav.account": "Mon compte",
      "lang.label": "Langue",
      "pricing.title": "Des offres simples, en FCFA",
      "pricing.lead":
        "Commencez gratuitement et changez d’offre quand vous en avez besoin. Prix mensuels en FCFA ; une nouvelle offre s’applique aussitôt.",
      "pricing.per_month": "par mois",
      "pricing.free": "par mois, sans carte bancaire",
      "pricing.loading": "Chargement des offres…",
      "pricing.popular": "Recommandé",
      "pricing.cta_free": "Créer un compte",
      "pricing.cta_paid": "Choisir {name}",
      "pricing.footnote":
        "Les limites journalières repartent à zéro à minuit, les limites mensuelles le premier jour de chaque mois.",
      "limit.per_day": "{n} messages par jour",
      "limit.per_month": "{n} messages par mois",
      "limit.tokens": "{n} jetons par mois",
      "limit.per_day_unlimited": "Messages illimités par jour",
      "limit.per_month_unlimited": "Messages illimités par mois",
      "limit.tokens_unlimited": "Jetons illimités",
      "limit.unlimited": "Illimité",
      "feature.document_sourcing": "Réponses avec leurs documents sources",
      "feature.pdf_generation": "Export PDF des réponses",
      "feature.priority_support": "Assistance prioritaire",
      "feature.api_access": "Accès à l’API",
      "feature.included": "inclus",
      "feature.not_included": "non inclus",
      "account.title": "Mon compte",
      "account.login_title": "Connexion",
      "account.login_lead": "Connectez-vous pour voir votre quota et changer d’offre.",
      "account.register_title": "Créer un compte",
      "account.register_lead": "Vous commencez avec l’offre gratuite, sans carte bancaire.",
      "account.email": "Adresse e-mail",
      "account.password": "Mot de passe",
      "account.password_hint": "Au moins 8 caractères.",
      "account.login": "Se connecter",
      "account.register": "Créer mon compte",
      "account.to_register": "Pas encore de compte ? Créez-en un",
      "account.to_login": "Déjà inscrit ? Connectez-vous",
      "account.logout": "Se déconnecter",
      "account.refresh": "Actualiser",
      "account.signed_in_as": "Connecté en tant que {email}",
      "account.plan": "Votre offre",
      "account.status.active": "Active",
      "account.status.trialing": "Essai",
      "account.status.past_due": "Paiement en retard",
      "account.status.canceled": "Résiliée",
      "account.status.expired": "Expirée",
      "account.usage_title": "Votre consommation",
      "account.bar.today": "Messages aujourd’hui",
      "account.bar.month": "Messages ce mois-ci",
      "account.bar.tokens": "Jetons ce mois-ci",
      "account.of": "{used} / {limit}",
      "account.warning":
        "Vous avez utilisé au moins 80 % de votre quota. Passez à l’offre supérieure pour continuer sans interruption.",
      "account.exceeded_title": "Quota dépassé",
      "account.exceeded": "Vous ne pouvez plus envoyer de messages pour le moment. Votre quota repart le {when}.",
      "account.exceeded_upgrade": "Changez d’offre pour continuer tout de suite.",
      "account.upgrade_title": "Changer d’offre",
      "account.upgrade_lead": "La nouvelle offre s’applique immédiatement.",
      "account.upgrade_lead_paid": "Vous payez avec CinetPay (Mobile Money ou carte) ; la nouvelle offre s’applique dès que le paiement est confirmé.",
      "account.upgrade_to_free": "Revenir à {name} en fin de période",
      "account.upgrade_to": "Passer à {name}",
      "account.upgraded": "Vous êtes maintenant sur l’offre {name}.",
      "account.top_plan": "Vous avez notre offre la plus complète.",
      "account.loading": "Chargement…",
      "account.registered": "Compte créé. Bienvenue !",
      "account.session_expired": "Votre session a expiré. Veuillez vous reconnecter.",
      "account.end_date": "Payé jusqu’au",
      "account.trial_end": "Essai jusqu’au",
      "account.time_zone": "Remise à zéro à minuit, fuseau",
      "account.cancel": "Résilier en fin de période",
      "account.renew": "Renouveler {name} : 1 mois, {price}",
      "account.redirecting": "Redirection vers CinetPay pour le paiement…",
      "account.cancel_scheduled": "Votre offre reste active jusqu’au {date}, puis vous passez à l’offre gratuite.",
      "account.scheduled_change": "Votre offre passe à {name} le {date}.",
      "account.canceled_note": "Résiliée : votre offre prend fin le {date}, puis l’offre gratuite s’applique.",
      "account.grace_note": "Votre période payée a pris fin le {date}. Renouvelez maintenant pour garder votre offre.",
      "account.history_title": "Messages des 30 derniers jours",
      "account.history_summary": "{total} messages du {from} au {to} ; journée la plus chargée : {max}.",
      "account.history_label": "Messages par jour du {from} au {to}",
      "account.history_bar": "{date} : {n} messages",
      "account.payments_title": "Paiements",
      "account.payments_empty": "Aucun paiement pour l’instant.",
      "account.pay.date": "Date",
      "account.pay.plan": "Offre",
      "account.pay.amount": "Montant",
      "account.pay.status": "Statut",
      "account.pay.until": "Payé jusqu’au",
      "account.pay.month": "{name}, 1 mois",
      "account.pay.months": "{name}, {n} mois",
      "account.pay.status.pending": "En attente",
      "account.pay.status.applied": "Payé",
      "account.pay.status.failed": "Échoué",
      "error.network": "Le service est injoignable. Vérifiez votre connexion et réessayez.",
      "error.http": "Le service a répondu par une erreur ({status}).",
      "error.login_failed": "Adresse e-mail ou mot de passe incorrect.",
      "error.email_taken": "Un compte existe déjà pour cette adresse e-mail.",
      "error.tier_not_found": "Cette offre n’est pas disponible.",
      "error.unavailable": "Le service est momentanément indisponible. Réessayez dans un instant.",
      "footer.text": "Kauri : quotas par offre d’abonnement.",
    },
  };

  let current = "en";

  function normalise(lang) {
    const base = String(lang || "")
      .toLowerCase()
      .split("-")[0];
    return supported.includes(base) ? base : null;
  }

  function stored_language() {
    try {
      return normalise(window.localStorage.getItem(storage_key));
    } catch (e) {
      return null;  // storage disabled: fall back to the server's choice
    }
  }

  /// The text for `key` in the current language, with {name} placeholders
  /// replaced from `values`. An unknown key shows as itself, so a missing
  /// translation is visible rather than blank.
  function t(key, values) {
    const table = texts[current] || texts.en;
    let s = key in table ? table[key] : key in texts.en ? texts.en[key] : key;
    if (values) {
      s = s.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
    }
    return s;
  }

  /// An integer with narrow no-break spaces between groups of three digits:
  /// 7000 -> "7 000", 3000000 -> "3 000 000", the same in both languages.
  function format_integer(n) {
    const negative = n < 0;
    const digits = String(Math.trunc(Math.abs(n)));
    let out = "";
    for (let i = 0; i < digits.length; ++i) {
      if (i > 0 && (digits.length - i) % 3 === 0) out += group_separator;
      out += digits[i];
    }
    return (negative ? "-" : "") + out;
  }

  /// "7 000 FCFA"; "0 FCFA" for a free tier (the page shows "Free" next to it).
  function format_fcfa(amount) {
    return format_integer(amount) + unit_separator + "FCFA";
  }

  /// A limit from the API: a number, or null for unlimited.
  function format_limit(value) {
    return value === null || value === undefined ? t("limit.unlimited") : format_integer(value);
  }

  /// An RFC 3339 instant in the reader's own time zone, written the way the
  /// page language writes dates and naming the zone, since the quota's day
  /// may start at another hour than the reader's ("Monday 10 November 2025
  /// at 00:00 UTC" / "lundi 10 novembre 2025 à 00:00 UTC").
  function format_instant(iso) {
    const when = new Date(iso);
    if (Number.isNaN(when.getTime())) return String(iso);
    const locale = current === "fr" ? "fr-FR" : "en-GB";
    return new Intl.DateTimeFormat(locale, {
      weekday: "long",
      day: "numeric",
      month: "long",
      year: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    }).format(when);
  }

  /// A day in the page language ("1 January 2027" / "1 janvier 2027"): a
  /// date "YYYY-MM-DD" as it is, an instant in the reader's own zone.
  function format_day(iso, short) {
    const plain = /^\d{4}-\d{2}-\d{2}$/.test(iso);
    const when = new Date(plain ? iso + "T00:00:00Z" : iso);
    if (Number.isNaN(when.getTime())) return String(iso);
    const locale = current === "fr" ? "fr-FR" : "en-GB";
    const options = short ? {day: "numeric", month: "short"} : {day: "numeric", month: "long", year: "numeric"};
    if (plain) options.timeZone = "UTC";
    return new Intl.DateTimeFormat(locale, options).format(when);
  }

  /// "7 000 XOF": an amount with its ISO currency (XOF and XAF are both "FCFA").
  function format_money(amount, currency) {
    return format_integer(amount) + unit_separator + (currency || "FCFA");
  }

  /// Fills every element that carries data-i18n="key" with its text, and
  /// data-i18n-placeholder / data-i18n-aria-label attributes likewise.
  function apply(root) {
    const scope = root || document;
    scope.querySelectorAll("[data-i18n]").forEach((el) => {
      el.textContent = t(el.dataset.i18n);
    });
    scope.querySelectorAll("[data-i18n-aria-label]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
    });
    scope.querySelectorAll("[data-msg-key]").forEach((el) => {
      el.textContent = message_text(el);
    });
  }

  /// Shows `error` in `box`. An error from the service shows its detail as
  /// sent (the service speaks English); the page's own messages carry a key
  /// ({key, values}) and are translated again after a language switch.
  function show_error(box, error) {
    if (error && error.key) {
      box.dataset.msgKey = error.key;
      box.dataset.msgValues = JSON.stringify(error.values || {});
      if (error.detail) {
        box.dataset.msgDetail = error.detail;
      } else {
        delete box.dataset.msgDetail;
      }
      box.textContent = message_text(box);
    } else {
      delete box.dataset.msgKey;
      box.textContent = error instanceof Error ? error.message : String(error);
    }
    box.hidden = false;
  }

  // English shows the service's detail as sent; French the page's text.
  function message_text(box) {
    if (current === "en" && box.dataset.msgDetail) return box.dataset.msgDetail;
    return t(box.dataset.msgKey, JSON.parse(box.dataset.msgValues || "{}"));
  }

  let on_change = null;

  function set_language(lang, remember) {
    current = normalise(lang) || "en";
    document.documentElement.lang = current;
    if (remember) {
      try {
        window.localStorage.setItem(storage_key, current);
      } catch (e) {
        // Storage disabled: the choice lasts for this page only.
      }
    }
    document.querySelectorAll("[data-lang]").forEach((button) => {
      button.setAttribute("aria-pressed", button.dataset.lang === current ? "true" : "false");
    });
    document.title = t(document.body.dataset.titleKey || "nav.pricing") + " · Kauri";
    apply(document);
    if (on_change) on_change(current);
  }

  /// Sets up the language from localStorage or <html lang>, wires the EN/FR
  /// buttons, translates the page, and calls `changed(lang)` now and after
  /// each switch.
  function init(changed) {
    on_change = changed || null;
    document.querySelectorAll("[data-lang]").forEach((button) => {
      button.addEventListener("click", () => set_language(button.dataset.lang, true));
    });
    set_language(stored_language() || normalise(document.documentElement.lang) || "en", false);
  }

  kq.i18n = {
    t,
    init,
    language: () => current,
    format_integer,
    format_fcfa,
    format_limit,
    format_instant,
    format_day,
    format_money,
    show_error,
  };
})(window.kq);
