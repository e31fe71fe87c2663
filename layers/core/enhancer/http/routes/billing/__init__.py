"""Billing: Stripe's webhook (webhook.py), plan and credit checkout (plan_checkout.py, credit_checkout.py),
the customer portal (portal.py). Nothing is imported here (see `http/routes`)."""
